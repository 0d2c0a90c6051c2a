#!/bin/sh
# The image's entrypoint: runs `frisk ARGS`. A command given as "frisk serve ..." (as platforms
# that replace only the image's CMD pass it) runs the same as "serve ...". exec: frisk is PID 1
# and gets SIGTERM itself.
if [ "${1:-}" = "frisk" ]; then shift; fi
exec frisk "$@"
