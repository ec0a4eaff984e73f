"""HTTP surface of the service: dependencies, routers and one module per route group."""
