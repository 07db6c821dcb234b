"""Best-of-k: k candidates, verified in the sandbox against trusted or model-written
tests, ranked (consensus, the Lens), the winner returned or replayed as a stream."""
