"""The node agent (seed 004): models onto a machine, with a path for what uses them."""
