"""Results: their typed shape, folders, paired statistics, gates, reports and plots."""
