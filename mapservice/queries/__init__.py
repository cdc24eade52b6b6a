"""Read queries (spatial query builders); views call these, never raw SQL themselves."""
