"""The fast twins by the name of the plain function they replace, and the mark that calls them."""
import functools

from .sets import active

_twins = {}  # the name of a plain function -> its fast twin (filled by tinygan.fast's TWINS)


def register(twins):
    """Add ``twins`` (the name of a plain function -> its twin, a function of the same arguments)."""
    taken = sorted(set(twins) & set(_twins))
    if taken:
        raise ValueError(f"fast: {', '.join(taken)} have twins already")
    _twins.update(twins)


def replaceable(plain):
    """Mark a plain function whose fast twin (registered under its name) runs instead, unless the set
    in use is 'plain' or the twin declines the arguments (returns NotImplemented: a case it does not
    speed up). The plain function stays reachable as ``.plain``."""
    name = plain.__name__

    @functools.wraps(plain)
    def call(*args, **kwargs):
        fast = _twins.get(name)
        if fast is not None and active() != "plain":
            result = fast(*args, **kwargs)
            if result is not NotImplemented:
                return result
        return plain(*args, **kwargs)
    call.plain = plain
    return call
