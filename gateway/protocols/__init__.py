"""Other wire protocols (Responses, Messages) to and from chat completions."""
