"""Data for the book, read at run time from installed packages (never copied into the repo): the
Shakespeare plays, the Ding German-English dictionary, German number words and the sentiment reviews."""
