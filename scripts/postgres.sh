#!/usr/bin/env bash
# postgres.sh CMD [ARG...]: run CMD with SIMSEARCH_TEST_PG set to the DSN
# of a throwaway PostgreSQL 15 cluster with pgvector, and stop the cluster
# afterwards. `make test` runs the tests through it.
#
# It installs postgresql-15 and postgresql-server-dev-15 with apt-get when
# they are missing (as root), builds pgvector from Debian 13's source
# package when the server lacks it (Debian 12 has no binary package), then
# starts a cluster in a temporary folder on a loopback port (54329, or the
# next free one; SIMSEARCH_PG_PORT overrides) with fsync off. Everything
# already installed is kept, so a second run only starts the cluster.
#
# SIMSEARCH_TEST_PG already set (a server of your own) runs CMD as it is.
# Where nothing can be installed (not root, no apt-get, no network) CMD
# runs without the variable and the PostgreSQL tests skip, saying why.
set -euo pipefail

if [ $# -eq 0 ]; then
	echo "usage: $0 CMD [ARG...]" >&2
	exit 2
fi
if [ -n "${SIMSEARCH_TEST_PG:-}" ]; then
	exec "$@"
fi
cmd=("$@")

PGVER=15
PGBIN=/usr/lib/postgresql/$PGVER/bin
PGVECTOR=0.8.0
start=$(date +%s.%N)

# skip runs CMD without a server, saying why the PostgreSQL tests skip.
skip() {
	echo "postgres.sh: $*; the PostgreSQL tests are skipped" >&2
	export SIMSEARCH_TEST_PG_SKIP="$*"
	exec "${cmd[@]}"
}

as_root() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }

PG_CONFIG=$PGBIN/pg_config
ext=/usr/share/postgresql/$PGVER/extension/vector.control
# The server headers are needed only to build pgvector.
if [ ! -x "$PGBIN/initdb" ] || [ ! -x "$PG_CONFIG" ] ||
	{ [ ! -e "$ext" ] && [ ! -e /usr/include/postgresql/$PGVER/server/postgres.h ]; }; then
	as_root || skip "PostgreSQL $PGVER is not installed and installing it needs root and apt-get"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q postgresql-$PGVER postgresql-server-dev-$PGVER >&2 ||
		{ apt-get update -q >&2 && apt-get install -y -q postgresql-$PGVER postgresql-server-dev-$PGVER >&2; } ||
		skip "apt-get could not install postgresql-$PGVER"
fi

# build_pgvector fetches Debian 13's source package through an apt state
# of its own (the system's sources and lists stay as they are), builds it
# against the installed server headers and installs it.
build_pgvector() (
	tmp=$(mktemp -d /tmp/simsearch-pgvector.XXXXXX)
	chmod 755 "$tmp" # apt's download user reads it
	trap 'rm -rf "$tmp"' EXIT
	# The archive is the machine's own: the first URI of its Debian sources.
	uri=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
	if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
		uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { print $i; exit } }' /etc/apt/sources.list)
	fi
	[ -n "$uri" ] || { echo "postgres.sh: no Debian archive in /etc/apt/sources.list.d/debian.sources" >&2; return 1; }
	mkdir -p "$tmp/parts" "$tmp/state/lists/partial" "$tmp/cache/archives/partial" "$tmp/src"
	echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie main" >"$tmp/sources.list"
	apt=(apt-get -q -o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::Etc::SourceParts=$tmp/parts"
		-o "Dir::State=$tmp/state" -o "Dir::Cache=$tmp/cache")
	"${apt[@]}" update >&2 || return 1
	(cd "$tmp/src" && "${apt[@]}" source pgvector >&2) || return 1
	dir=$tmp/src/pgvector-$PGVECTOR
	[ -d "$dir" ] || { echo "postgres.sh: trixie's pgvector is not $PGVECTOR:" "$tmp"/src/pgvector-* >&2; return 1; }
	make -C "$dir" -s PG_CONFIG="$PG_CONFIG" OPTFLAGS="" >&2 || return 1
	make -C "$dir" -s PG_CONFIG="$PG_CONFIG" install >&2
)

if [ ! -e "$ext" ]; then
	as_root || skip "pgvector is not installed and building it needs root"
	build_pgvector || skip "pgvector $PGVECTOR could not be fetched or built"
fi
installed=$(date +%s.%N)

# A throwaway cluster: a password for TCP (the tests check wrong
# credentials), trust on its own socket folder.
data=$(mktemp -d /tmp/simsearch-pg.XXXXXX)
chmod 755 "$data"
run_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$data"
password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
echo "$password" >"$data/pw"
[ "$(id -u)" = 0 ] && chown postgres "$data/pw"
user=postgres
[ "$(id -u)" = 0 ] || user=$(id -un)
run_pg "$PGBIN/initdb" -D "$data/db" -U "$user" --auth-local=trust --auth-host=scram-sha-256 \
	--pwfile="$data/pw" -E UTF8 --locale=C.UTF-8 >"$data/initdb.log" 2>&1 ||
	{ cat "$data/initdb.log" >&2; rm -rf "$data"; skip "initdb failed"; }

stop() {
	[ -d "$data/standby" ] && run_pg "$PGBIN/pg_ctl" -D "$data/standby" -m immediate stop >/dev/null 2>&1
	run_pg "$PGBIN/pg_ctl" -D "$data/db" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$data"
}
trap stop EXIT

port=${SIMSEARCH_PG_PORT:-54329}
started=
for try in 0 1 2 3 4 5 6 7 8 9; do
	p=$((port + try))
	if run_pg "$PGBIN/pg_ctl" -D "$data/db" -l "$data/server.log" -w -t 30 \
		-o "-p $p -c listen_addresses=127.0.0.1 -c unix_socket_directories=$data -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c synchronous_standby_names='*'" \
		start >/dev/null 2>&1; then
		started=$p
		break
	fi
	grep -q "Address already in use\|could not bind\|could not create lock file" "$data/server.log" 2>/dev/null || break
done
if [ -z "$started" ]; then
	cat "$data/server.log" >&2 || true
	echo "postgres.sh: the throwaway PostgreSQL cluster did not start" >&2
	exit 1
fi
# Every database the tests create from template1 has the extension.
run_pg "$PGBIN/psql" -q -h "$data" -p "$started" -U "$user" -d template1 -c "CREATE EXTENSION IF NOT EXISTS vector" >&2
ready=$(date +%s.%N)
export SIMSEARCH_TEST_PG="postgres://$user:$password@127.0.0.1:$started/postgres?sslmode=disable"
# The server's programs, for tests that start a cluster of their own (one
# they stop and start again during an index run).
export SIMSEARCH_TEST_PG_BIN="$PGBIN"

# A streaming replica for the read-replica tests. Commits wait for it only
# in sessions that ask (synchronous_commit=remote_apply): the server's
# default is off.
replica=
if run_pg env PGPASSWORD="$password" "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$started" -U "$user" \
	-D "$data/standby" -R -X stream -c fast >"$data/basebackup.log" 2>&1; then
	for try in 1 2 3 4 5 6 7 8 9; do
		p=$((started + try))
		if run_pg "$PGBIN/pg_ctl" -D "$data/standby" -l "$data/standby.log" -w -t 30 \
			-o "-p $p -c listen_addresses=127.0.0.1 -c unix_socket_directories=$data -c fsync=off -c hot_standby=on -c max_connections=200" \
			start >/dev/null 2>&1; then
			replica=$p
			break
		fi
	done
fi
if [ -n "$replica" ]; then
	export SIMSEARCH_TEST_PG_REPLICA="postgres://$user:$password@127.0.0.1:$replica/postgres?sslmode=disable"
else
	echo "postgres.sh: the streaming replica did not start; the read-replica tests skip:" "$(tail -n 3 "$data/basebackup.log" "$data/standby.log" 2>/dev/null | tr "\n" " ")" >&2
fi
replicated=$(date +%s.%N)
echo "postgres.sh: PostgreSQL $PGVER with pgvector $(sed -n "s/^default_version = '\(.*\)'/\1/p" "$ext") on 127.0.0.1:$started;" \
	"install check $(awk "BEGIN { printf \"%.1f\", $installed - $start }") s, cluster up in $(awk "BEGIN { printf \"%.1f\", $ready - $installed }") s," \
	"replica on ${replica:-none} in $(awk "BEGIN { printf \"%.1f\", $replicated - $ready }") s" >&2

set +e
"${cmd[@]}"
rc=$?
exit $rc
