"""The ATLAS gateway: the HTTP edge (`http/`), the strategies that answer requests
(`strategies/`), the composition root (`wiring/`) and telemetry (`telemetry/`).
See docs/architecture.md."""
