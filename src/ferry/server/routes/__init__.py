"""The service's routes, one module per resource; every router comes from
``ferry.server.deps.router`` and so needs a token (except ``service.public``)."""
