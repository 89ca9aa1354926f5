"""Applications built on QuLab's core, each small, complete and tested: guides for adopting it."""
