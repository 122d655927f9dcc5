"""The driver's process: plans the work, dispatches it, alone writes the gradebook, the reports
and the files (``bngrade`` on the instructor's machine). It never loads an answer key."""
