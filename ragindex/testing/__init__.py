"""Contract test classes for anyone adding a store backend or an embedder: subclass one in your
own test module, provide its fixture, and pytest runs every guarantee ragindex relies on."""
