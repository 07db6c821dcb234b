"""The composition root: builds the gateway's collaborators from settings and closes them."""
