"""/usr/bin/python3 -m segserve_train {unet,classifier} ... (with PYTHONPATH=training); see training/README.md.

Exit codes: 0 done; 2 bad input or options, found before training (one `error` event); 1 a failure during the run
(`error` event with code INTERNAL, traceback on stderr); 130/143 interrupted by SIGINT/SIGTERM. In every failing
case the output folder is left without outputs.
"""
import argparse
import os
import signal
import sys
import traceback

# Before torch loads OpenMP: waiting threads sleep instead of spinning. Measured on a shared 2-core machine under
# load (2 threads, 4 crops of 256x256): base-8 U-Net 2.6 -> 1.0 CPU s and 5.5 -> 2.1-2.9 s wall per iteration,
# base 16 5.1 -> 2.9 CPU s and 13.3 -> 6.5 s wall. A spinning thread burns the core its partner needs.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

from . import classifier, train_unet  # noqa: E402  (after the OpenMP setting)
from .protocol import TrainError, claim_stdout, emit


class Parser(argparse.ArgumentParser):
    """Option errors become the protocol's error event (exit 2), not argparse's usage text alone."""

    def error(self, message):
        self.print_usage(sys.stderr)
        raise TrainError('BAD_OPTION', message)


def main(argv=None):
    claim_stdout()
    # SIGTERM (how a supervisor cancels a run) unwinds like an exception, so the staging folder is removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = Parser(prog='segserve_train', description='segserve reference trainer')
    commands = parser.add_subparsers(dest='command', required=True, parser_class=Parser)
    for name, module, text in (('unet', train_unet, 'train a U-Net on a mask-folder export'),
                               ('classifier', classifier, 'train the gate classifier (positives vs other)')):
        sub = commands.add_parser(name, help=text, description=text)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    try:
        args = parser.parse_args(argv)
        return args.handler(args)
    except TrainError as error:
        emit('error', code=error.code, message=error.message)
        return 2
    except KeyboardInterrupt:
        emit('error', code='INTERRUPTED', message='interrupted')
        return 130
    except SystemExit as stop:
        if stop.code not in (0, None):  # --help exits 0
            emit('error', code='INTERRUPTED', message=f'stopped (exit {stop.code})')
        raise
    except Exception as error:  # a crash mid-run: report it in the protocol too
        traceback.print_exc()
        emit('error', code='INTERNAL', message=f'{type(error).__name__}: {error}')
        return 1


if __name__ == '__main__':
    sys.exit(main())
