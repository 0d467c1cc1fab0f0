"""The app's screens: message list (home), trace, raw log, help."""
