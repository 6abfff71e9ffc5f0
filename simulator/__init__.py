"""Local fake X, Graph and Telegram Bot APIs that speak the documented HTTP protocols."""
