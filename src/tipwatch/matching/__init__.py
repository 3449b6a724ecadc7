"""Hash lists ("banks") of known material and matching against them."""
