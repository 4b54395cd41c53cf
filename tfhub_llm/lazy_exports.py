"""Public names loaded on first use (PEP 562), so that importing a package does not load TensorFlow.

``tfhub-llm --help`` and the package's leaf modules (errors, training options, the CLI's parsers)
must not pay the seconds TensorFlow takes to import; a package ``__init__`` lists where each public
name lives and imports that module when the name is first read.
"""

import importlib
import importlib.abc
import importlib.util
import sys


def lazy_exports(package_name, modules):
    """``(__getattr__, __dir__)`` for the package ``package_name`` whose public names live in ``modules``.

    ``modules`` maps each module (``"tfhub_llm.layers"``) to the names it provides.
    """
    where = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name):
        if name not in where:
            raise AttributeError(f"module {package_name!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name]), name)
        setattr(sys.modules[package_name], name, value)  # read once: later reads skip __getattr__
        return value

    def __dir__():
        return sorted({*where, *vars(sys.modules[package_name])})

    return __getattr__, __dir__


def import_with_keras(modules):
    """Imports ``modules`` as soon as ``keras`` is imported (at once if it already is).

    Keras finds a class named in a ``.keras`` file only once the module that registers it has run, so
    ``import tfhub_llm`` followed by ``keras.models.load_model(...)`` must find the package's classes
    without any of its names having been read.
    """
    if "keras" in sys.modules:
        _import_all(modules)
    else:
        sys.meta_path.insert(0, _AfterKerasLoads(modules))


class _AfterKerasLoads(importlib.abc.MetaPathFinder):
    """Finds ``keras`` with the other finders; once its module has executed, leaves and runs the imports.

    A mere look-up (``importlib.util.find_spec("keras")``, as TensorFlow does) gets a spec that is never
    executed, so the finder stays until a real import runs.
    """

    def __init__(self, modules):
        self.modules = modules
        self._finding = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras" or self._finding:
            return None
        self._finding = True
        try:
            spec = importlib.util.find_spec(fullname)  # the other finders' answer
        finally:
            self._finding = False
        if spec is not None and spec.loader is not None:
            execute = spec.loader.exec_module

            def execute_then_import(module):
                execute(module)
                if self in sys.meta_path:
                    sys.meta_path.remove(self)
                _import_all(self.modules)

            spec.loader.exec_module = execute_then_import
        return spec


def _import_all(modules):
    for module in modules:
        importlib.import_module(module)


def load_all(package):
    """Imports every public name of ``package`` (e.g. so that Keras finds every serializable class)."""
    for name in package.__all__:
        getattr(package, name)
