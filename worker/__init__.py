"""Worker layer: claims tasks, executes them (command, python, demo) and records every step; periodic jobs."""
