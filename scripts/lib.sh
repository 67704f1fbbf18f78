# Shared by scripts/run and scripts/test: install what is missing, quickly skip what is there.
# Sourced, not run.

set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"

# Pinned tools. WASM_BINDGEN must equal the `wasm-bindgen` "=..." pin in Cargo.toml: the CLI
# and the crate must agree exactly (checked below).
WASM_BINDGEN=0.2.130
TRUNK=0.21.14
# The npm package is also tested in Node 22 (installed from the npm registry by npx) and
# bundled with esbuild.
NODE_22=22.23.3
ESBUILD=0.28.2
# Fuzzes the core's parsers on stable Rust (with --sanitizer none).
CARGO_FUZZ=0.13.2

step="starting"
say() { step="$*"; printf '\033[1m==> %s\033[0m\n' "$*"; }
# A failing command stops the script (set -e); this says in which step, below the failing
# tool's own output. Functions and subshells inherit it (set -E): the first such line names
# the command that failed, the next ones what it ran inside.
trap 'printf "\033[1;31m==> failed (exit %s) in the step: %s; the failing command: %s\033[0m\n" "$?" "$step" "$BASH_COMMAND" >&2' ERR

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "need root to run: $*" >&2; return 1; fi
}

apt_updated=
# ensure_apt <command> <package>...: installs the packages when the command is missing.
ensure_apt() {
    local cmd=$1; shift
    command -v "$cmd" >/dev/null && return 0
    apt_install "$@"
}

apt_install() {
    say "installing $* (Debian packages)"
    if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_rust_targets() {
    local installed
    installed=$(rustup target list --installed)
    for t in wasm32-unknown-unknown wasm32-wasip2 thumbv7em-none-eabihf; do
        grep -qx "$t" <<<"$installed" || { say "adding Rust target $t"; rustup target add "$t"; }
    done
}

ensure_wasm_bindgen() {
    local pinned
    pinned=$(sed -n 's/^wasm-bindgen = .*"=\([0-9.]*\)".*$/\1/p' "$ROOT/Cargo.toml")
    if [ "$pinned" != "$WASM_BINDGEN" ]; then
        echo "scripts/lib.sh pins wasm-bindgen-cli $WASM_BINDGEN but Cargo.toml pins $pinned" >&2
        return 1
    fi
    if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN" ]; then
        say "installing wasm-bindgen-cli $WASM_BINDGEN (about 5 minutes)"
        # --locked fails here: one locked dependency is missing from the registry mirror.
        cargo install wasm-bindgen-cli --version "$WASM_BINDGEN" --force
    fi
}

ensure_trunk() {
    if [ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK" ]; then
        say "installing trunk $TRUNK (15 minutes or more on 2 cores)"
        # Without --locked a newer cssparser is picked and the build fails.
        cargo install trunk --version "$TRUNK" --locked --force
    fi
}

ensure_cargo_fuzz() {
    if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ" ]; then
        say "installing cargo-fuzz $CARGO_FUZZ (about 2 minutes)"
        cargo install cargo-fuzz --version "$CARGO_FUZZ" --locked --force
    fi
}

# fuzz_core [seconds]: runs each fuzz target of the core (core/fuzz) for that long (30 s by
# default), starting from its committed corpus. What it finds goes to a temporary corpus, so the
# committed one changes only by hand; a crash stops the script with libFuzzer's report and the
# input saved under core/fuzz/artifacts.
fuzz_core() {
    local seconds=${1:-30} target found
    ensure_cargo_fuzz
    say "building the core's fuzz targets (cargo fuzz build, on stable: no sanitizer)"
    (cd "$ROOT/core" && cargo fuzz build --sanitizer none --target-dir "$HOME/.cache/flowgate/fuzz-target")
    for target in $(cd "$ROOT/core" && cargo fuzz list); do
        say "fuzzing $target for $seconds s"
        found=$(mktemp -d)
        if ! (cd "$ROOT/core" && cargo fuzz run --sanitizer none --target-dir "$HOME/.cache/flowgate/fuzz-target" \
            "$target" "$found" "fuzz/corpus/$target" -- -max_total_time="$seconds" >"$found.log" 2>&1); then
            # libFuzzer's report: the panic, then the input and where it was saved.
            grep -A3 "panicked" "$found.log" >&2 || true
            tail -n 40 "$found.log" >&2
            rm -rf "$found" "$found.log"
            return 1
        fi
        grep -E "^Done" "$found.log"
        rm -rf "$found" "$found.log"
    done
}

# Builds the admin console into dist/ (skipped while its sources are unchanged).
build_console() {
    ensure_rust_targets
    ensure_wasm_bindgen
    ensure_trunk
    say "building the admin console (trunk build --release)"
    (cd "$ROOT" && trunk build --release)
    compress_console "$ROOT/dist"
}

# Writes a .gz (gzip -9) and a .br (brotli -q 11) beside each of the console's files, which the
# server sends to browsers that accept them (ServeDir's precompressed files).
compress_console() {
    ensure_apt brotli brotli
    say "compressing the admin console's files (gzip, brotli)"
    local file
    for file in "$1"/*.html "$1"/*.js "$1"/*.wasm "$1"/*.css; do
        [ -f "$file" ] || continue
        gzip -9 -k -f -n "$file"
        brotli -q 11 -k -f "$file"
    done
}

# Builds the npm package into wasm/pkg and packs it; prints the tarball's path.
build_npm_package() {
    ensure_rust_targets
    ensure_wasm_bindgen
    local target_dir="${CARGO_TARGET_DIR:-$ROOT/target}"
    local pkg="$ROOT/wasm/pkg"
    say "building the npm package (wasm32, profile wasm)" >&2
    (cd "$ROOT" && cargo build -p flowgate-wasm --target wasm32-unknown-unknown --profile wasm) >&2
    local wasm="$target_dir/wasm32-unknown-unknown/wasm/flowgate_wasm.wasm"
    rm -rf "$pkg" && mkdir -p "$pkg"
    local strip=(--remove-name-section --remove-producers-section)
    wasm-bindgen --target nodejs "${strip[@]}" --out-dir "$pkg/node" "$wasm" >&2
    wasm-bindgen --target web "${strip[@]}" --out-dir "$pkg/web" "$wasm" >&2
    # The web build says that its files are ES modules, so that Node and bundlers read them so
    # without guessing from the syntax. (The Node build is CommonJS whose snippets are ES
    # modules: Node tells them apart by their syntax, so it gets no type.)
    echo '{ "type": "module", "sideEffects": false }' > "$pkg/web/package.json"
    local module="$pkg/node/flowgate_wasm_bg.wasm"
    say "flowgate_wasm_bg.wasm: $(wc -c < "$module") B, $(gzip -9 -c "$module" | wc -c) B gzipped (BENCHMARKS.md)" >&2
    local version
    version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/Cargo.toml" | head -n 1)
    sed "s/@VERSION@/$version/" "$ROOT/wasm/npm/package.json.in" > "$pkg/package.json"
    cp "$ROOT/wasm/npm/README.md" "$pkg/README.md"
    (cd "$pkg" && npm pack --loglevel=error --pack-destination "$pkg" | tail -n 1 | sed "s|^|$pkg/|")
}

# Packs the npm package, installs the tarball into a scratch project as a user would, and runs
# the Node tests (tests/node) there.
test_npm_package() {
    local tarball scratch
    tarball=$(build_npm_package)
    scratch=$(mktemp -d)
    say "installing $(basename "$tarball") into a scratch project and running node --test"
    (
        cd "$scratch"
        npm init -y >/dev/null
        npm install --no-audit --no-fund --loglevel=error "$tarball" typescript@5 "esbuild@$ESBUILD"
        cp "$ROOT"/tests/node/*.test.mjs "$ROOT"/tests/node/types.ts .
        npx tsc --noEmit --strict --module nodenext --moduleResolution nodenext types.ts
        FLOWGATE_VECTORS="$ROOT/tests/vectors" node --test ./*.test.mjs
        say "the npm package in Node $NODE_22 (from the npm registry)"
        FLOWGATE_VECTORS="$ROOT/tests/vectors" npx -y "node@$NODE_22" --test ./*.test.mjs
    )
    local status=$?
    rm -rf "$scratch"
    return $status
}

# Builds the WebAssembly component (component/): for wasm32-wasip2 cargo writes the component
# itself. Prints its path.
build_component() {
    ensure_rust_targets
    local wasm="${CARGO_TARGET_DIR:-$ROOT/target}/wasm32-wasip2/wasm/flowgate_component.wasm"
    say "building the WebAssembly component (wasm32-wasip2, profile wasm)" >&2
    (cd "$ROOT" && cargo build -p flowgate-component --target wasm32-wasip2 --profile wasm) >&2
    say "flowgate_component.wasm: $(wc -c < "$wasm") B, $(gzip -9 -c "$wasm" | wc -c) B gzipped (BENCHMARKS.md)" >&2
    echo "$wasm"
}

# A Python virtual environment NAME (under ~/.cache/flowgate) holding the pinned packages of
# REQUIREMENTS, made or brought up to date when they changed; prints its python.
python_env() {
    local venv="$HOME/.cache/flowgate/$1" requirements="$2"
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        apt_install python3-venv >&2
    fi
    if [ ! -x "$venv/bin/python" ]; then
        say "creating a Python environment in $venv" >&2
        python3 -m venv "$venv" >&2
    fi
    if ! cmp -s "$requirements" "$venv/requirements.txt"; then
        say "installing the Python packages of $requirements" >&2
        "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$requirements" >&2
        cp "$requirements" "$venv/requirements.txt"
    fi
    echo "$venv/bin/python"
}

# The component tests' Python (wasmtime-py, pytest).
component_python() {
    python_env venv "$ROOT/tests/component/python/requirements.txt"
}

# The OpenAPI document (`flowgate-server openapi`, as GET /api/v1/openapi.json serves it):
# validated against the OpenAPI 3.1 schema in Node, offline, and its schemas of the npm
# package's documents compared with the package's schema table and TypeScript declarations;
# then a Python client generated from it as the README shows (openapi-python-client, pinned)
# and used against a real server. Needs FLOWGATE_SERVER_BIN.
test_openapi() {
    local python scratch
    say "the OpenAPI document against the OpenAPI 3.1 schema (Node)"
    (
        cd "$ROOT/tests/openapi"
        npm ci --no-audit --no-fund --loglevel=error
        node --test openapi.test.mjs documents.test.mjs
    )
    say "a Python client generated from the OpenAPI document, against a real server"
    python=$(python_env venv-openapi "$ROOT/tests/openapi/python/requirements.txt")
    scratch=$(mktemp -d)
    "$FLOWGATE_SERVER_BIN" openapi > "$scratch/openapi.json"
    "$(dirname "$python")/openapi-python-client" generate --path "$scratch/openapi.json" \
        --meta none --output-path "$scratch/flowgate_client" >"$scratch/generate.log" 2>&1 ||
        { cat "$scratch/generate.log"; rm -rf "$scratch"; return 1; }
    PYTHONPATH="$scratch" "$python" "$ROOT/tests/openapi/python/client_test.py" ||
        { rm -rf "$scratch"; return 1; }
    rm -rf "$scratch"
}

# Transpiles the component WASM with jco (pinned in tests/component/js) into DIR as ES modules;
# DIR/flowgate.js is its entry.
transpile_component() {
    (cd "$ROOT/tests/component/js" && npm ci --no-audit --no-fund --loglevel=error)
    "$ROOT/tests/component/js/node_modules/.bin/jco" transpile "$1" -o "$2" --name flowgate >/dev/null
    echo '{"type":"module"}' > "$2/package.json"
}

# The component from its two real hosts, as their users load it: jco-transpiled in Node, and
# wasmtime-py in Python; both run the shared vectors.
test_component() {
    local wasm python scratch
    wasm=$(build_component)
    export FLOWGATE_COMPONENT="$wasm" FLOWGATE_VECTORS="$ROOT/tests/vectors"
    say "the component in Node, through jco transpile"
    scratch=$(mktemp -d)
    transpile_component "$wasm" "$scratch"
    (
        cd "$ROOT/tests/component/js"
        FLOWGATE_COMPONENT_JS="$scratch/flowgate.js" node --test component.test.mjs
    )
    rm -rf "$scratch"
    say "the component in Python, through wasmtime-py"
    python=$(component_python)
    (cd "$ROOT/tests/component/python" && "$python" -m pytest -q -p no:cacheprovider)
    (cd "$ROOT/tests/component/python" && "$python" example.py)
}

# A loopback port nobody listens on.
free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 30000))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
    done
}

# The directory of PostgreSQL's server programs (initdb, postgres), installing Debian's package
# when there is none.
postgres_bin() {
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        say "installing postgresql (Debian packages)" >&2
        if [ -z "$apt_updated" ]; then as_root apt-get update -qq >&2; apt_updated=1; fi
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    echo "$bin"
}

services_dir=
# Stops what start_postgres started; run at exit.
stop_services() {
    if [ -n "$services_dir" ] && [ -f "$services_dir/pg/postmaster.pid" ]; then
        local bin; bin=$(postgres_bin)
        run_as_postgres "$bin/pg_ctl" -D "$services_dir/pg" -m fast -w stop >/dev/null 2>&1 || true
    fi
    [ -n "$services_dir" ] && rm -rf "$services_dir"
    services_dir=
}

# Runs a command as the user PostgreSQL's programs run as: `postgres` when we are root (initdb
# and postgres refuse to run as root), else ourselves.
run_as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Starts a private PostgreSQL in a temporary directory on a free loopback port, and exports
# FLOWGATE_TEST_POSTGRES for it (tests make a database of their own in it; setting
# FLOWGATE_TEST_DATABASE_URL to it runs the server's suites on it). Stopped at exit.
start_postgres() {
    local bin port
    bin=$(postgres_bin)
    services_dir=$(mktemp -d)
    trap stop_services EXIT
    chmod 755 "$services_dir"
    mkdir "$services_dir/pg"
    [ "$(id -u)" = 0 ] && chown postgres "$services_dir/pg"
    port=$(free_port)
    say "starting a private PostgreSQL on 127.0.0.1:$port ($("$bin/postgres" --version))"
    run_as_postgres "$bin/initdb" -D "$services_dir/pg" -A trust -U postgres >"$services_dir/initdb.log" 2>&1 || {
        cat "$services_dir/initdb.log" >&2; echo "initdb failed" >&2; return 1; }
    # fsync off: the cluster lives as long as this test run, and the tests' durability is
    # SQLite's and PostgreSQL's promise, not this throwaway cluster's.
    run_as_postgres "$bin/pg_ctl" -D "$services_dir/pg" -l "$services_dir/pg/server.log" -w -t 30 \
        -o "-p $port -k $services_dir/pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400" \
        start >/dev/null || { cat "$services_dir/pg/server.log" >&2; echo "PostgreSQL did not start" >&2; return 1; }
    export FLOWGATE_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres"
}
