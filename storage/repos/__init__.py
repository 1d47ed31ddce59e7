"""Small async repositories, one per aggregate, all bound to one session by :class:`storage.uow.Store`."""
