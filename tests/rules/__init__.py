"""Rule tests: table-driven over named cases, certificates made relative to a frozen now."""
