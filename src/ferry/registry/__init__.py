"""The far side: bundles imported (whole or not at all) into the registries Ferry serves."""
