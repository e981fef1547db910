"""How the resolvers (uv, npm) run: directly on a user's own machine, in a box for a
stranger's task (``runner.py`` the interface, ``bwrap.py`` the box, ``proxy.py`` its one
way out, ``bridge.py`` the end of that way inside the box)."""
