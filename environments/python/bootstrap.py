"""Entry point of switchyard's Python runtime client.

Started as ``python3 bootstrap.py [--layer DIR]...`` inside an execution
environment. It only arranges ``sys.path`` the way AWS Lambda's Python runtime
does and hands over to ``switchyard_runtime.loop``; everything else lives in
the package so that it can be tested piece by piece.
"""

import os
import sys


def _main():
    runtime_dir = os.path.dirname(os.path.abspath(__file__))
    # Python put this file's directory first; the runtime must be found but
    # must never shadow user modules, so it goes last (like /var/runtime).
    if sys.path and os.path.abspath(sys.path[0] or ".") == runtime_dir:
        del sys.path[0]
    sys.path.append(runtime_dir)

    from switchyard_runtime import paths

    try:
        layers = paths.parse_layer_args(sys.argv[1:])
    except ValueError as e:
        sys.stderr.write("bootstrap.py: {}\n".format(e))
        sys.exit(2)
    code_dir = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    sys.path[:] = paths.build_sys_path(code_dir, layers, runtime_dir, sys.path)

    from switchyard_runtime import loop

    loop.main()


if __name__ == "__main__":
    _main()
