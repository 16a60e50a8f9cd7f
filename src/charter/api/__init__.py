"""The HTTP API: routers over the same service layer the CLI uses."""
