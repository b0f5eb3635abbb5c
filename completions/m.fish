complete --keep-order --exclusive --command m --arguments "(COMPLETE=fish m -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
