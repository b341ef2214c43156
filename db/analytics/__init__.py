"""Data layer, analytics: the declarative rollup specs, their maintenance and the analytics reads over a scope."""
