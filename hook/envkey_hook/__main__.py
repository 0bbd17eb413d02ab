from envkey_hook.cli import entry

entry()
