#!/usr/bin/env python3
"""Run upstream's Contrail config API server (vnc_cfg_api_server), optionally with upstream's
schema transformer and svc-monitor in the same process, on the in-memory fakes upstream's own
unit tests run them on: no Cassandra, ZooKeeper or RabbitMQ.

    launch.py [--port 0] [--work-dir DIR] [--daemons] [--watch-stdin]

Prints one line `READY <port> <work-dir> <what runs>` on stdout once the API answers (and the
daemons have started); logs go to files in the work directory. Stops on SIGTERM/SIGINT, or
with --watch-stdin when stdin reaches end of file (a test harness holding the pipe stops it by
exiting).

The kit it runs is a directory with `venv311/` (a Python venv with upstream's runtime
dependencies), `pylib/` (vnc_cfg_api_server, cfgm_common, vnc_api with its generated code,
pysandesh, sandesh_common) and, for --daemons, `daemons/pylib/` (schema_transformer,
svc_monitor): `CONTRAIL_API_KIT`, else `CONTRAIL_API_ROOT`, else
`${XDG_CACHE_HOME:-~/.cache}/contrail-api-server`. `tools/contrail-api-server/build.sh` makes
one from upstream's sources.

What it sets up, and where upstream does the same (tungstenfabric/tf-controller,
src/config/common/cfgm_common/tests/test_common.py):
- the fake Cassandra driver in place of the thrift and CQL drivers (module top);
- `TestCase.mocks`: FakeKazooClient, the fake ZooKeeper counter, FakeKombu's connection,
  exchange, queue, consumer and producer, FakeApiConfigLog (`setup_mocks` in `setUpClass`);
- `VncCassandraClient._handle_exceptions = fake_wrapper`, `FakeWSGIHandler`, the zkclient log
  directory (`setUpClass`);
- `KombuAmqpClient` patched with a mock, and the server's arguments (`launch_api_server`);
- the schema transformer's and svc-monitor's arguments (`launch_schema_transformer`,
  `launch_svc_monitor`) and readiness (`wait_for_schema_transformer_up`, then the
  transformer's `_db_resync_done`; svc-monitor is ready once `SvcMonitor.post_init` returned,
  having made its default templates and service-appliance-sets).
Two things upstream's tests do not need: Python >= 3.10 dropped the `collections` ABC aliases
and gevent >= 1.5 renamed `gevent.signal`, which upstream still uses (they are put back); and
svc-monitor reads its own table through the Cassandra driver by the table's `column_family`
(`svc_monitor/db.py`), an attribute pycassa's tables have and the fake's lack (it is given
one, else svc-monitor attaches no member).
"""

import argparse
import os
import signal
import socket
import sys
import tempfile
import types

VENVS = ('venv311', 'venv36')


def kit_root():
    for var in ('CONTRAIL_API_KIT', 'CONTRAIL_API_ROOT'):
        if os.environ.get(var):
            return os.path.abspath(os.environ[var]), var
    cache = os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache')
    return os.path.join(cache, 'contrail-api-server'), 'the default'


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--ip', default='127.0.0.1')
    ap.add_argument('--port', type=int, default=0, help='0: a free port')
    ap.add_argument('--work-dir', help='logs and config files (default: a new temp dir)')
    ap.add_argument('--daemons', action='store_true',
                    help="also run upstream's schema transformer and svc-monitor")
    ap.add_argument('--no-schema-transformer', action='store_true')
    ap.add_argument('--no-svc-monitor', action='store_true')
    ap.add_argument('--knob', action='append', default=[],
                    help='contrail-api.conf line SECTION:key=value (repeatable)')
    ap.add_argument('--hash-seed', default='0',
                    help='PYTHONHASHSEED (default 0): upstream iterates sets in places, e.g. '
                         'which back-refs a 409 lists; "random" leaves it random')
    ap.add_argument('--watch-stdin', action='store_true',
                    help='exit when stdin reaches end of file')
    ap.add_argument('--remove-work-dir', action='store_true',
                    help='remove the work directory when stopped by a signal or end of file')
    ap.add_argument('--cluster-id', default='contrail-mesos')
    return ap.parse_args()


def reexec_in_kit(opts):
    """Run again under the kit's interpreter, with its packages and the hash seed."""
    root, source = kit_root()
    paths = [os.path.join(root, 'pylib'), os.path.join(root, 'daemons', 'pylib')]
    want_path = os.pathsep.join(p for p in paths if os.path.isdir(p))
    seed_ok = opts.hash_seed == 'random' or os.environ.get('PYTHONHASHSEED') == opts.hash_seed
    if sys.prefix.startswith(root) and os.environ.get('PYTHONPATH') == want_path and seed_ok:
        return root
    if not os.path.isdir(os.path.join(root, 'pylib', 'vnc_cfg_api_server')):
        sys.exit('launch.py: no upstream packages under %s (%s; set CONTRAIL_API_KIT, or '
                 'build one with tools/contrail-api-server/build.sh)' % (root, source))
    for venv in VENVS:
        py = os.path.join(root, venv, 'bin', 'python')
        if os.path.exists(py):
            os.environ['PYTHONPATH'] = want_path
            if opts.hash_seed != 'random':
                os.environ['PYTHONHASHSEED'] = opts.hash_seed
            os.execv(py, [py, '-W', 'ignore', os.path.abspath(__file__)] + sys.argv[1:])
    sys.exit('launch.py: no Python venv (%s) under %s' % (' or '.join(VENVS), root))


def free_port(ip):
    s = socket.socket()
    s.bind((ip, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def restore_removed_names():
    import collections
    import collections.abc
    for name in ('Mapping', 'MutableMapping', 'Sequence', 'MutableSequence', 'Iterable',
                 'Iterator', 'Callable', 'Hashable', 'Set', 'MutableSet', 'Sized', 'Container'):
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))


def stub_novaclient():
    """cfgm_common's test utilities import novaclient for a fake nothing here uses."""
    try:
        import novaclient  # noqa: F401
        return
    except ImportError:
        pass
    nc = types.ModuleType('novaclient')
    exc = types.ModuleType('novaclient.exceptions')
    client = types.ModuleType('novaclient.client')
    exc.NotFound = type('NotFound', (Exception,), {})
    client.Client = None
    nc.exceptions, nc.client = exc, client
    sys.modules.update({'novaclient': nc, 'novaclient.exceptions': exc,
                        'novaclient.client': client})


def install_fakes(work):
    """What test_common does before it starts a server (see the module docstring)."""
    from cfgm_common.tests import cassandra_fake_impl
    from cfgm_common.datastore.drivers import cassandra_fake
    for driver in ('cassandra_thrift', 'cassandra_cql'):
        sys.modules['cfgm_common.datastore.drivers.' + driver] = cassandra_fake
    table = cassandra_fake_impl._CassandraFakeServerTable
    if not hasattr(table, 'column_family'):
        table.column_family = property(lambda self: self.name)

    import gevent.pywsgi
    import kazoo.client
    import kazoo.handlers.gevent
    import kazoo.recipe.counter
    import kombu
    import cfgm_common.zkclient
    from cfgm_common.tests import test_utils as tu
    from cfgm_common.uve.vnc_api.ttypes import VncApiConfigLog
    from cfgm_common.vnc_cassandra import VncCassandraClient

    counter = kazoo.recipe.counter.Counter
    for cls, attr, fake in (
            (kazoo.client.KazooClient, '__new__', tu.FakeKazooClient),
            (counter, '__init__', tu.fake_zk_counter_init),
            (counter, '_change', tu.fake_zk_counter_change),
            (counter, 'value', tu.fake_zk_counter_value),
            (counter, '_ensure_node', tu.fake_zk_counter_ensure_node),
            (kazoo.handlers.gevent.SequentialGeventHandler, '__init__', tu.stub),
            (kombu.Connection, '__new__', tu.FakeKombu.Connection),
            (kombu.Exchange, '__new__', tu.FakeKombu.Exchange),
            (kombu.Queue, '__new__', tu.FakeKombu.Queue),
            (kombu.Consumer, '__new__', tu.FakeKombu.Consumer),
            (kombu.Producer, '__new__', tu.FakeKombu.Producer),
            (VncApiConfigLog, '__new__', tu.FakeApiConfigLog)):
        setattr(cls, attr, fake)

    def no_retry_wrapper(self, func, *args, **kwargs):
        return func

    VncCassandraClient._handle_exceptions = no_retry_wrapper
    cfgm_common.zkclient.LOG_DIR = work + '/'
    gevent.pywsgi.WSGIServer.handler_class = tu.FakeWSGIHandler


def write_configs(work, knobs):
    conf = os.path.join(work, 'contrail-api.conf')
    sections = {'DEFAULTS': []}
    for knob in knobs:
        section, _, kv = knob.partition(':')
        key, eq, value = kv.partition('=')
        if not section or not key or not eq:
            sys.exit('launch.py: --knob %r is not SECTION:key=value' % knob)
        sections.setdefault(section, []).append('%s = %s' % (key, value))
    with open(conf, 'w') as f:
        for section, lines in sections.items():
            f.write('[%s]\n%s\n' % (section, ''.join(line + '\n' for line in lines)))
    logconf = os.path.join(work, 'logging.conf')
    with open(logconf, 'w') as f:
        f.write('[formatters]\nkeys=simple\n[formatter_simple]\n'
                'format=%(name)s:%(levelname)s: %(message)s\n'
                '[handlers]\nkeys=file\n[handler_file]\nclass=FileHandler\nlevel=INFO\n'
                "formatter=simple\nargs=('api_server.log',)\n"
                '[loggers]\nkeys=root\n[logger_root]\nlevel=WARN\nhandlers=file\n')
    return conf, logconf


def api_server_args(opts, work, conf, logconf):
    return ' '.join([
        '--listen_ip_addr', opts.ip, '--listen_port', str(opts.port),
        '--http_server_port', str(free_port(opts.ip)), '--admin_port', str(free_port(opts.ip)),
        '--cassandra_server_list', '0.0.0.0:9160', '--log_local',
        '--log_file', os.path.join(work, 'api_server_sandesh.log'),
        '--cluster_id', opts.cluster_id, '--conf_file', conf, '--logging_conf', logconf])


def daemon_args(opts, work, name, extra=''):
    return ('--cluster_id %s --api_server_ip %s --api_server_port %d --http_server_port %d '
            '--cassandra_server_list 0.0.0.0:9160 --log_local --log_file %s --trace_file %s %s'
            % (opts.cluster_id, opts.ip, opts.port, free_port(opts.ip),
               os.path.join(work, name + '.log'), os.path.join(work, name + '.err'), extra))


def run(opts):
    work = os.path.abspath(opts.work_dir or tempfile.mkdtemp(prefix='contrail-api-'))
    os.makedirs(work, exist_ok=True)
    os.chdir(work)  # upstream's test utilities open log files in the current directory
    if opts.port == 0:
        opts.port = free_port(opts.ip)
    restore_removed_names()
    import gevent.monkey
    gevent.monkey.patch_all()
    import gevent
    import gevent.event
    if not callable(getattr(gevent, 'signal', None)):
        gevent.signal = gevent.signal_handler
    stub_novaclient()
    install_fakes(work)
    import mock
    from cfgm_common import vnc_cgitb
    conf, logconf = write_configs(work, opts.knob)

    def api_server():
        from vnc_cfg_api_server import api_server as srv
        mock.patch('vnc_cfg_api_server.api_server.KombuAmqpClient').start().side_effect = \
            mock.Mock()
        args = api_server_args(opts, work, conf, logconf)
        vnc_cgitb.enable(format='text')
        server = srv.VncApiServer(args)
        gevent.getcurrent().api_server = server
        srv.main(args, server)

    def port_answers():
        while True:
            try:
                socket.create_connection((opts.ip, opts.port), timeout=1).close()
                return
            except socket.error:
                gevent.sleep(0.1)

    running = {'api_server': gevent.spawn(api_server)}

    def start_daemons():
        port_answers()
        if opts.daemons and not opts.no_schema_transformer:
            from schema_transformer import to_bgp
            running['schema_transformer'] = gevent.spawn(
                to_bgp.main, daemon_args(opts, work, 'schema_transformer'))
            while to_bgp.SchemaTransformer.get_instance() is None:
                if running['schema_transformer'].dead:
                    return
                gevent.sleep(0.1)
            to_bgp.SchemaTransformer.get_instance()._vnc_amqp._db_resync_done.wait()
        if opts.daemons and not opts.no_svc_monitor:
            from svc_monitor import svc_monitor
            ready = gevent.event.Event()
            post_init = svc_monitor.SvcMonitor.post_init

            def post_init_then_ready(self, *a, **kw):
                post_init(self, *a, **kw)
                ready.set()
            svc_monitor.SvcMonitor.post_init = post_init_then_ready
            running['svc_monitor'] = gevent.spawn(
                svc_monitor.main,
                daemon_args(opts, work, 'svc_monitor', '--check_service_interval 2'))
            while not ready.wait(0.1):
                if running['svc_monitor'].dead:
                    return
        sys.stdout.write('READY %d %s %s\n' % (opts.port, work, ' '.join(sorted(running))))
        sys.stdout.flush()

    gevent.spawn(start_daemons)
    stop = gevent.event.Event()
    why = []

    def on_signal(signum):
        why.append('signal %d' % signum)
        stop.set()
    for s in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(s, on_signal, s)
    if opts.watch_stdin:
        import gevent.os

        def watch():  # ends when the parent holding the pipe goes
            gevent.os.make_nonblocking(0)
            while gevent.os.nb_read(0, 4096):
                pass
            why.append('end of file on stdin')
            stop.set()
        gevent.spawn(watch)
    while not stop.wait(0.5):
        dead = [name for name, g in running.items() if g.dead]
        if dead:
            for name in dead:
                sys.stderr.write('launch.py: %s ended: %r\n' % (name, running[name].exception))
            os._exit(1)
    sys.stderr.write('launch.py: stopping (%s)\n' % ', '.join(why))
    if opts.remove_work_dir:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    os._exit(0)


def main():
    opts = parse_args()
    reexec_in_kit(opts)
    run(opts)


if __name__ == '__main__':
    main()
