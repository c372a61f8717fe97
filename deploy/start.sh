#!/bin/sh
# The image's start command: migrate the database (PostgreSQL or SQLite), then serve.
set -eu
consensus db upgrade
exec consensus serve
