"""Finding the user's handler from ``_HANDLER``, failing as AWS does.

``module.function`` is split at the last dot, ``/`` in the module becomes
``.``, and each way this can fail maps to the ``Runtime.*`` error type and
message awslambdaric reports at init.
"""

import importlib
import sys

from .errors import (BUILT_IN_MODULE_CONFLICT, HANDLER_NOT_FOUND,
                     IMPORT_MODULE_ERROR, MALFORMED_HANDLER_NAME,
                     USER_CODE_SYNTAX_ERROR, FaultException)


def resolve_handler(handler):
    """Import the handler's module and return the handler callable.

    Raises FaultException for the errors AWS reports by type; any other
    exception from module-level code propagates unchanged.
    """
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise FaultException(
            MALFORMED_HANDLER_NAME,
            "Bad handler '{}': {}".format(handler, str(e)),
        )

    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise FaultException(
                BUILT_IN_MODULE_CONFLICT,
                "Cannot use built-in module {} as a handler module".format(
                    modname),
            )
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise FaultException(
            IMPORT_MODULE_ERROR,
            "Unable to import module '{}': {}".format(modname, str(e)),
        )
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s'
                 % (e.filename, e.lineno, e.text)]
        raise FaultException(
            USER_CODE_SYNTAX_ERROR,
            "Syntax error in module '{}': {}".format(modname, str(e)),
            trace,
        )

    try:
        return getattr(module, fname)
    except AttributeError:
        raise FaultException(
            HANDLER_NOT_FOUND,
            "Handler '{}' missing on module '{}'".format(fname, modname),
            None,
        )
