"""The application shell: the command line (cli/), the resumable runner (pipeline.py), the stage list with
one recipe per stage (stages/), the demo region (demo/) and the Python entry points (api.py). The shell imports
stage packages; nothing below it imports the shell."""
