"""Pure core: see DESIGN.md."""
