"""mailtui: a terminal explorer for mail-server logs (Postfix, Sendmail, Exchange)."""

__version__ = "0.1.0"
