#!/usr/bin/env bash
# Build the kit tools/contrail-api-server/launch.py runs: upstream's Contrail config API server
# (vnc_cfg_api_server), schema transformer and svc-monitor as Python packages with all their
# generated code, from upstream's sources, and a Python venv with their runtime dependencies.
# The real-server test tier (`make test-real-api`), `CONTRAIL_API=real make demo` and
# `make bench-manager`'s real-server figures need it.
#
#   tools/contrail-api-server/build.sh [KIT_DIR]
#
# KIT_DIR (default $CONTRAIL_API_KIT, else ${XDG_CACHE_HOME:-~/.cache}/contrail-api-server)
# receives venv311/, pylib/ and daemons/pylib/. Sources, each a git directory (bare or not) or
# a plain checkout:
#   TF_CONTROLLER_SRC  tungstenfabric/tf-controller
#   TF_API_CLIENT_SRC  tungstenfabric/tf-api-client
#   TF_COMMON_SRC      tungstenfabric/tf-common
# Any that is unset is cloned from GitHub at the commit below. Needs python3 (3.8+; 3.11 tested)
# with venv, g++, flex, bison and the Boost headers (installed with apt-get when missing and
# run as root); the package registry for the venv.
#
# What it does, after upstream's build (SConscripts of tf-api-client/api-lib, tf-common/sandesh,
# tf-controller/src/config/*):
#   1. vnc_api's generated schema code: generateDS.py over schema/all_cfg.xsd with the
#      ifmap-frontend generator (api-lib/SConscript). generateDS is Python 2 code: four small
#      edits make it run on Python 3 (tabs expanded; file() -> open(); no str.encode of the
#      generated text; the IDL read as text).
#   2. the sandesh compiler from tf-common/sandesh/compiler (bison, flex, g++), then
#      `sandesh --gen py:new_style` over the .sandesh files each package needs, with the include
#      paths scons gives it (controller/src, src/contrail-common).
#   3. pylib/: vnc_api, pysandesh (+ gen_py), sandesh_common, cfgm_common (+ uve),
#      vnc_cfg_api_server (+ its traces); daemons/pylib/: schema_transformer, svc_monitor.
set -euo pipefail

TF_CONTROLLER_COMMIT=6a674397821187fedfffd9586942b906d3479dbc
TF_API_CLIENT_COMMIT=c0011de96de769774283b5167aa0ecdd216dbe92
TF_COMMON_COMMIT=f5166b113c2e3c664a235277d09048335af983c3

here=$(cd "$(dirname "$0")" && pwd)
kit=${1:-${CONTRAIL_API_KIT:-${XDG_CACHE_HOME:-$HOME/.cache}/contrail-api-server}}
mkdir -p "$kit"
kit=$(cd "$kit" && pwd)
work=$kit/build
mkdir -p "$work"
say() { printf '== %s\n' "$*"; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- tools
need=()
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
for t in g++ flex bison; do command -v "$t" >/dev/null || need+=("$t"); done
[ -f /usr/include/boost/uuid/uuid.hpp ] || need+=(libboost-dev)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "install ${need[*]} first (apt-get install ${need[*]})"
  say "apt-get install ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null; } ||
    die "apt-get install ${need[*]} failed"
fi

# ---------------------------------------------------------------- sources
# export <source> <dest> <paths...>: the paths of a git directory's HEAD (or of a checkout).
export_tree() {
  local src=$1 dest=$2; shift 2
  rm -rf "$dest"; mkdir -p "$dest"
  if git --git-dir="$src" rev-parse --verify -q HEAD >/dev/null 2>&1; then
    # (A partial mirror may say "invalid object" of a blob outside these paths: logged only.)
    git --git-dir="$src" archive HEAD "$@" 2>>"$work/archive.log" | tar -x -C "$dest" ||
      die "exporting $* from $src failed (see $work/archive.log)"
    printf '%s %s\n' "$(basename "$dest")" "$(git --git-dir="$src" rev-parse HEAD)" >> "$work/commits.txt"
  elif [ -d "$src/.git" ]; then
    export_tree "$src/.git" "$dest" "$@"
  else
    local p
    for p in "$@"; do
      [ -e "$src/$p" ] || die "$src has no $p"
      mkdir -p "$dest/$(dirname "$p")"; cp -r "$src/$p" "$dest/$p"
    done
    printf '%s %s (a plain directory)\n' "$(basename "$dest")" "$src" >> "$work/commits.txt"
  fi
}
# source <VAR> <repository> <commit>: the given source, else a clone at the commit.
source_of() {
  local var=$1 repo=$2 commit=$3 given=${!1:-}
  if [ -n "$given" ]; then [ -e "$given" ] || die "$var=$given does not exist"; echo "$given"; return; fi
  local d=$work/git/$repo
  if [ ! -d "$d/.git" ]; then
    git clone -q "https://github.com/tungstenfabric/$repo" "$d" >&2 || die "cloning $repo failed (set $var to a local copy)"
  fi
  git -C "$d" checkout -q "$commit" || die "$repo has no commit $commit"
  echo "$d/.git"
}
say "sources"
: > "$work/commits.txt"
ctl=$(source_of TF_CONTROLLER_SRC tf-controller "$TF_CONTROLLER_COMMIT")
api=$(source_of TF_API_CLIENT_SRC tf-api-client "$TF_API_CLIENT_COMMIT")
common=$(source_of TF_COMMON_SRC tf-common "$TF_COMMON_COMMIT")
src=$work/src
export_tree "$ctl" "$src/tf-controller" src/config/api-server src/config/common src/config/uve \
  src/sandesh/common src/config/schema-transformer src/config/svc-monitor \
  src/vnsw/agent/uve/loadbalancer.sandesh
export_tree "$api" "$src/tf-api-client" api-lib generateds schema base
export_tree "$common" "$src/tf-common" sandesh base/sandesh io/io.sandesh
# The layout the sandesh files' includes expect (scons' #controller/src, #src/contrail-common).
rm -rf "$work/tree"; mkdir -p "$work/tree/src"
ln -s "$src/tf-controller" "$work/tree/controller"
ln -s "$src/tf-common" "$work/tree/src/contrail-common"

# ---------------------------------------------------------------- venv
venv=$kit/venv311
stamp=$venv/.requirements-$(sha256sum "$here/requirements.txt" | cut -c1-16)
if [ ! -f "$stamp" ]; then
  say "venv (package registry)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
  touch "$stamp"
fi
py=$venv/bin/python

# ---------------------------------------------------------------- 1 vnc_api/gen
say "vnc_api's generated code (generateDS, ifmap-frontend)"
gds=$src/tf-api-client/generateds
for f in ifmap_parser.py ifmap_frontend.py; do
  expand -t 8 "$gds/$f" > "$gds/$f.tabs" && mv "$gds/$f.tabs" "$gds/$f"
done
"$py" - "$gds" <<'PY'
import sys, pathlib
d = pathlib.Path(sys.argv[1])
def edit(name, old, new):
    p = d / name
    text = p.read_text()
    if old not in text:
        sys.exit('generateDS %s: %r not found (another generateDS?)' % (name, old))
    p.write_text(text.replace(old, new))
edit('generateDS.py', 'file(outFileName', 'open(outFileName')
edit('TypeGenerator.py', "s2 = s2.encode('utf-8')", 'pass')
edit('idl_parser.py', 'file_matches = xml_comment.findall(infile.read())',
     "_text = infile.read()\n        if isinstance(_text, bytes):\n"
     "            _text = _text.decode('utf-8')\n        file_matches = xml_comment.findall(_text)")
PY
apilib=$work/api-lib
rm -rf "$apilib"; cp -r "$src/tf-api-client/api-lib" "$apilib"
mkdir -p "$apilib/vnc_api/gen"
cp "$gds/generatedssuper.py" "$gds/cfixture.py" "$apilib/vnc_api/gen/"
( cd "$gds" && HEAT_BUILDTOP="$work" "$py" -W ignore generateDS.py -f \
    -o "$apilib/vnc_api/gen/resource" -g ifmap-frontend ../schema/all_cfg.xsd ) \
  > "$work/generateDS.log" 2>&1 || { tail -20 "$work/generateDS.log" >&2; die "generateDS failed"; }

# ---------------------------------------------------------------- 2 sandesh
sc=$work/sandesh-compiler
if [ ! -x "$sc/sandesh" ]; then
  say "the sandesh compiler"
  rm -rf "$sc"; mkdir -p "$sc"
  ( cd "$src/tf-common/sandesh/compiler"
    bison -d -o "$sc/sandeshy.cc" sandeshy.yy 2>/dev/null
    flex -o "$sc/sandeshl.cc" sandeshl.ll 2>/dev/null
    pids=()
    for f in main.cc parse/parse.cc generate/t_generator.cc generate/t_cpp_generator.cc \
             generate/t_c_generator.cc generate/t_py_generator.cc generate/t_html_generator.cc \
             generate/t_xsd_generator.cc generate/t_doc_generator.cc \
             "$sc/sandeshy.cc" "$sc/sandeshl.cc"; do
      g++ -w -O1 -DSANDESH -I. -I"$sc" -c "$f" -o "$sc/$(basename "$f" .cc).o" & pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    gcc -c md5.c -I. -o "$sc/md5.o"
    g++ -o "$sc/sandesh" "$sc"/*.o ) || die "building the sandesh compiler failed"
fi
# gen <file under the tree> <output dir>: Python code of one .sandesh file (SandeshGenPy).
gen() {
  mkdir -p "$2"
  ( cd "$work/tree" && "$sc/sandesh" --gen py:new_style -I controller/src/ -I src/contrail-common \
      -out "$2" "$1" ) || die "sandesh $1 failed"
}

# ---------------------------------------------------------------- 3 packages
say "packages"
pylib=$kit/pylib.new
rm -rf "$pylib"; mkdir -p "$pylib"
cp -r "$apilib/vnc_api" "$pylib/"
cp -r "$src/tf-common/sandesh/library/python/pysandesh" "$pylib/"
lib=src/contrail-common/sandesh/library/common
for s in sandesh sandesh_ctrl sandesh_uve sandesh_alarm sandesh_trace; do
  gen "$lib/$s.sandesh" "$pylib/pysandesh/gen_py"
done
gen src/contrail-common/base/sandesh/process_info.sandesh "$pylib/pysandesh/gen_py"
gen "$lib/derived_stats_results.sandesh" "$pylib/pysandesh/gen_py/sandesh_uve"
gen src/contrail-common/io/io.sandesh "$pylib/pysandesh/gen_py/sandesh_uve"
touch "$pylib/pysandesh/gen_py/__init__.py"
mkdir -p "$pylib/sandesh_common"
cp "$src/tf-controller/src/sandesh/common/__init__.py" "$pylib/sandesh_common/"
for s in vns flow; do gen "controller/src/sandesh/common/$s.sandesh" "$pylib/sandesh_common"; done
cp -r "$src/tf-controller/src/config/common/cfgm_common" "$pylib/"
uve=$pylib/cfgm_common/uve
mkdir -p "$uve/nodeinfo"
for s in service_instance vnc_api virtual_machine virtual_network physical_router acl \
         cfgm_cpuinfo greenlets msg_traces config_req physical_router_config service_status \
         feature_flags config_api_worker config_updater; do
  gen "controller/src/config/uve/$s.sandesh" "$uve"
done
gen src/contrail-common/base/sandesh/nodeinfo.sandesh "$uve"
for s in cpuinfo process_info; do gen "src/contrail-common/base/sandesh/$s.sandesh" "$uve/nodeinfo"; done
touch "$uve/__init__.py" "$uve/nodeinfo/__init__.py"
printf '%s\n' "build_info = '{\"build-info\": [{\"build-time\": \"n/a\", \"build-hostname\": \"local\", \"build-user\": \"contrail-mesos\", \"build-version\": \"$TF_CONTROLLER_COMMIT\"}]}'" \
  > "$pylib/cfgm_common/buildinfo.py"
cp -r "$src/tf-controller/src/config/api-server/vnc_cfg_api_server" "$pylib/"
gen controller/src/config/api-server/traces.sandesh "$pylib/vnc_cfg_api_server/sandesh"
touch "$pylib/vnc_cfg_api_server/sandesh/__init__.py"

dlib=$kit/daemons/pylib.new
rm -rf "$dlib"; mkdir -p "$dlib"
cfg=$src/tf-controller/src/config
cp -r "$cfg/schema-transformer/schema_transformer" "$dlib/"
gen controller/src/config/schema-transformer/st_introspect.sandesh "$dlib/schema_transformer/sandesh"
touch "$dlib/schema_transformer/sandesh/__init__.py"
cp -r "$cfg/svc-monitor/svc_monitor" "$dlib/"
for s in controller/src/config/svc-monitor/svc_mon_introspect.sandesh \
         controller/src/vnsw/agent/uve/loadbalancer.sandesh \
         controller/src/config/svc-monitor/port_tuple.sandesh \
         controller/src/config/svc-monitor/snat_agent.sandesh; do
  gen "$s" "$dlib/svc_monitor/sandesh"
done

# Swap in the new packages only now that all of them are built.
rm -rf "$kit/pylib" "$kit/daemons/pylib"
mv "$pylib" "$kit/pylib"
mv "$dlib" "$kit/daemons/pylib"
cp "$work/commits.txt" "$kit/commits.txt"

say "check: start the server (with the schema transformer and svc-monitor) and list its projects"
CONTRAIL_API_KIT=$kit CHECK_DIR=$work "$py" - "$here/launch.py" <<'PY' || die "the built server does not answer (see $work/check.log)"
import json, os, subprocess, sys, urllib.request
log = open(os.path.join(os.environ['CHECK_DIR'], 'check.log'), 'w')
p = subprocess.Popen([sys.executable, sys.argv[1], '--daemons', '--watch-stdin', '--remove-work-dir'],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                     env=dict(os.environ), text=True)
line = p.stdout.readline().split()
if not line or line[0] != 'READY':
    sys.exit('launch.py said %r' % line)
with urllib.request.urlopen('http://127.0.0.1:%s/projects' % line[1], timeout=30) as r:
    print('   projects:', [x['fq_name'] for x in json.load(r)['projects']])
p.stdin.close(); p.wait(timeout=30)
PY
say "done: $kit (CONTRAIL_API_KIT=$kit)"
