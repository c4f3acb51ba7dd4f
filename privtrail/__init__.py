"""privtrail."""
