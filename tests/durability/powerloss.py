"""The model behind the power-loss drill (test_powerloss.py; docs/testing.md,
"Simulated power loss").

A run of ternd under the shim in record mode (tests/faults/faultinj.c,
TERN_FAULT_RECORD) leaves the list of every change it made below the
data_dir, in the order the calls completed, with the data written, and
the moments it sent "queued as ID". From that list and a snapshot of the
data_dir taken before the run, this module rebuilds what the disk could
hold if the power had gone at any point of the run.

What survives a power cut, in the model (POSIX's promise and no more;
ext4 and XFS keep more, so tern must not count on them):

- A file's data is on disk as of its last fsync or fdatasync (or a
  syncfs). Each later write may or may not be there, and one that is may
  be torn (only a prefix of it, cut anywhere or at a 512-octet sector) or
  zeroes (the size reached the disk, the data did not: XFS and ext4's
  delayed allocation).
- A name (create, rename, link, unlink, mkdir, rmdir) is on disk once
  the directory holding it has been fsync'd (or a syncfs) after the
  change. Each later change may or may not be there, whole: a rename is
  old name or new name, never neither (every journaling filesystem
  Linux has commits a rename as one transaction). Between two
  directories it is two changes, the new name and the old name's
  removal, each made durable by its own directory's fsync: both names
  may be there after a crash, and the removal is never there without
  the new name (an fsync of the old directory commits the new name too).
- An inode's mode, owner and a time set by futimens (its metadata) are on
  disk as of the inode's last fsync (not fdatasync: that syncs what the
  data needs) or a syncfs; each later change may or may not be there.
  A new file or directory comes with the mode and owner it was made with.

For each crash point (after each recorded change) the drill takes the
state with only the synced changes, the one with every pending name
change but no pending data (the "zero-length file after a crash" case),
the one with everything (a kill -9), and random mixes of pending changes
with torn writes. A message is acknowledged at a crash point if its
"queued as" was recorded before it.
"""
import hashlib
import os
import shutil
import stat


class Obj:
    """A file or a directory: what a process sees (v*) and what the disk
    holds (p*)."""
    __slots__ = ("kind", "ino", "mode", "uid", "gid", "vdata", "pdata", "vent", "pent",
                 "vmeta", "pmeta", "n")
    count = 0

    def __init__(self, kind, ino, mode, uid, gid, data=b"", ent=None):
        self.kind, self.ino, self.mode, self.uid, self.gid = kind, ino, mode, uid, gid
        self.vdata, self.pdata = bytearray(data), bytes(data)
        self.vent, self.pent = dict(ent or {}), dict(ent or {})
        # The metadata: "own" (mode, uid, gid) and "mtime" ((s, ns) once
        # set by futimens; None: whatever the writes left).
        self.vmeta = {"own": (mode, uid, gid), "mtime": None}
        self.pmeta = dict(self.vmeta)
        Obj.count += 1
        self.n = Obj.count      # stable identity for hashing and links


def snapshot(root):
    """The data_dir before the run, all of it on disk (the drill syncs
    first): the root directory's Obj. Sockets and the like are left out."""
    def walk(path):
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode):
            ent = {}
            for name in sorted(os.listdir(path)):
                child = walk(os.path.join(path, name))
                if child is not None:
                    ent[name] = child
            return Obj("d", st.st_ino, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, ent=ent)
        if stat.S_ISREG(st.st_mode):
            with open(path, "rb") as f:
                return Obj("f", st.st_ino, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                           data=f.read())
        return None
    return walk(str(root))


def read_records(path):
    """The recording as a list of (op, fields, payload)."""
    out = []
    with open(path, "rb") as f:
        blob = f.read()
    pos = 0
    while pos < len(blob):
        nl = blob.index(b"\n", pos)
        line = blob[pos:nl].decode("utf-8", "surrogateescape")
        pos = nl + 1
        op, _, rest = line.partition(" ")
        payload = b""
        if op == "W":
            n = int(rest.split()[2])
            payload = blob[pos:pos + n]
            pos += n
        out.append((op, rest, payload))
    return out


class Model:
    """Replays a recording over a snapshot, keeping what is synced apart
    from what is pending; states(k) gives the disks a crash after the
    k-th change could leave."""

    def __init__(self, root_obj, data_dir, records):
        self.root = root_obj
        self.prefixes = sorted({str(data_dir).rstrip("/"),
                                os.path.realpath(str(data_dir)).rstrip("/")},
                               key=len, reverse=True)
        self.inodes = {}
        self._index(root_obj)
        self.pending = []       # ops not on disk yet, in order
        self.acked = []         # ids, in order
        self.points = []        # per crash point: (pending snapshot, acked count)
        self.unknown = []       # records that named a path the model did not know
        self.removed = {}       # relpath -> the first crash point after its unlink
        for rec in records:
            self._step(*rec)

    def _index(self, obj):
        self.inodes[obj.ino] = obj
        for child in obj.vent.values():
            self._index(child)

    # -------------------------------------------------------------- paths --
    def _rel(self, path):
        for p in self.prefixes:
            if path == p:
                return []
            if path.startswith(p + "/"):
                return [c for c in path[len(p) + 1:].split("/") if c]
        return None

    def _parent(self, path):
        """(directory Obj, name) of path in the volatile tree, or None."""
        parts = self._rel(path)
        if not parts:
            return None
        d = self.root
        for c in parts[:-1]:
            d = d.vent.get(c)
            if d is None or d.kind != "d":
                return None
        return d, parts[-1]

    # --------------------------------------------------------------- step --
    def _pend(self, op):
        apply_op(op, lambda o: o.vdata, lambda o: o.vent, lambda o: o.vmeta)
        self.pending.append(op)

    def _step(self, op, rest, payload):
        if op == "K":
            self.acked.append(rest.strip())
        elif op in ("C", "M"):
            ino, mode, uid, gid, path = rest.split(" ", 4)
            loc = self._parent(path)
            if loc is None:
                self.unknown.append((op, rest))
            else:
                d, name = loc
                cur = d.vent.get(name)
                if cur is None or cur.ino != int(ino):
                    obj = Obj("f" if op == "C" else "d", int(ino), int(mode, 8), int(uid), int(gid))
                    obj.pdata = b""
                    self.inodes[obj.ino] = obj
                    self._pend(("add", d, name, obj))
        elif op in ("P", "I"):
            fields = rest.split()
            obj = self.inodes.get(int(fields[0]))
            if obj is None:
                pass    # not a file nor a directory: the control socket's mode
            elif op == "P":
                self._pend(("meta", obj, "own", (int(fields[1], 8), int(fields[2]),
                                                 int(fields[3]))))
            else:
                self._pend(("meta", obj, "mtime", (int(fields[1]), int(fields[2]))))
        elif op in ("W", "T", "S", "Y"):
            fields = rest.split()
            obj = self.inodes.get(int(fields[0]))
            if obj is None:
                self.unknown.append((op, rest))
            elif op == "W":
                self._pend(("w", obj, int(fields[1]), payload))
            elif op == "T":
                self._pend(("t", obj, int(fields[1])))
            elif obj.kind == "f":
                obj.pdata = bytes(obj.vdata)
                synced = ("w", "t")
                if op == "S":
                    obj.pmeta = dict(obj.vmeta)
                    synced = ("w", "t", "meta")
                self.pending = [p for p in self.pending if not (p[0] in synced and p[1] is obj)]
            else:
                obj.pent = dict(obj.vent)
                if op == "S":
                    obj.pmeta = dict(obj.vmeta)
                    self.pending = [p for p in self.pending
                                    if not (p[0] == "meta" and p[1] is obj)]
                # A rename's other half goes with it (one transaction).
                pairs = [p[4] for p in self.pending
                         if p[0] == "rm" and p[1] is obj and len(p) > 4]
                for add in pairs:
                    if any(q is add for q in self.pending):
                        add[1].pent[add[2]] = add[3]
                self.pending = [p for p in self.pending
                                if not (p[0] in ("add", "rm", "mv") and p[1] is obj)
                                and not any(p is a for a in pairs)]
        elif op == "A":
            for obj in self._all():
                obj.pdata = bytes(obj.vdata)
                obj.pent = dict(obj.vent)
                obj.pmeta = dict(obj.vmeta)
            self.pending = []
        elif op in ("U", "D"):
            loc = self._parent(rest)
            if loc is None:
                self.unknown.append((op, rest))
            elif loc[1] not in loc[0].vent:
                pass    # not a file nor a directory: the control socket, say
            else:
                d, name = loc
                self._pend(("rm", d, name, d.vent[name]))
                self.removed.setdefault("/".join(self._rel(rest)), len(self.points))
        elif op in ("N", "L"):
            if op == "N":
                flags, paths = rest.split(" ", 1)
            else:
                paths = rest
            a, b = paths.split("\t")
            la, lb = self._parent(a), self._parent(b)
            if la is None or lb is None or la[1] not in la[0].vent:
                self.unknown.append((op, rest))
            else:
                obj = la[0].vent[la[1]]
                if op == "L":
                    self._pend(("add", lb[0], lb[1], obj))
                elif la[0] is lb[0]:
                    self._pend(("mv", la[0], la[1], lb[1], obj))
                else:
                    add = ("add", lb[0], lb[1], obj)
                    self._pend(add)
                    self._pend(("rm", la[0], la[1], obj, add))
        self.points.append(self._freeze())

    def _all(self):
        seen, stack = {}, [self.root]
        for p in self.pending:
            stack.extend(x for x in p[1:] if isinstance(x, Obj))
        while stack:
            o = stack.pop()
            if o.n in seen:
                continue
            seen[o.n] = o
            stack.extend(o.vent.values())
            stack.extend(o.pent.values())
        return list(seen.values())

    def _freeze(self):
        """What a crash now would find: the synced contents and metadata
        of every object reachable, the pending list, the acknowledged ids."""
        objs = self._all()
        return ({o.n: (o.pdata if o.kind == "f" else dict(o.pent)) for o in objs},
                {o.n: dict(o.pmeta) for o in objs}, list(self.pending), len(self.acked))

    # ------------------------------------------------------------- states --
    def states(self, k, randoms, rng):
        """The disks a crash after change k could leave: a list of
        (label, image, acked ids); image as image_of gives."""
        synced, smeta, pending, nacked = self.points[k]
        acked = self.acked[:nacked]
        out = [("synced", self._image(synced, smeta, [])),
               ("names-not-data", self._image(synced, smeta,
                                              [p for p in pending
                                               if p[0] in ("add", "rm", "mv")])),
               ("everything", self._image(synced, smeta, pending))]
        for i in range(randoms):
            chosen = []
            dropped = set()
            for p in pending:
                if rng.random() < 0.5 or (p[0] == "rm" and len(p) > 4 and id(p[4]) in dropped):
                    dropped.add(id(p))
                    continue
                how = rng.random()
                if p[0] == "w" and len(p[3]) > 1 and how < 1 / 3:
                    cut = rng.randrange(1, len(p[3]))
                    if rng.random() < 0.5:
                        cut = max(1, cut - cut % 512)
                    p = ("w", p[1], p[2], p[3][:cut])
                elif p[0] == "w" and how < 2 / 3:
                    p = ("w", p[1], p[2], bytes(len(p[3])))
                chosen.append(p)
            out.append(("mix%d" % i, self._image(synced, smeta, chosen)))
        return [(label, img, acked) for label, img in out]

    def _image(self, synced, smeta, ops):
        """The tree after synced plus ops: {relpath: entry}, entry
        ("d", mode, uid, gid, mtime) or ("f", mode, uid, gid, data, obj n,
        mtime); mtime (s, ns) or None."""
        data = {}
        ents = {}
        metas = {}

        def get_data(o):
            if o.n not in data:
                data[o.n] = bytearray(synced.get(o.n, o.pdata))
            return data[o.n]

        def get_ent(o):
            if o.n not in ents:
                ents[o.n] = dict(synced.get(o.n, o.pent))
            return ents[o.n]

        def get_meta(o):
            if o.n not in metas:
                metas[o.n] = dict(smeta.get(o.n, o.pmeta))
            return metas[o.n]
        for op in ops:
            apply_op(op, get_data, get_ent, get_meta)
        tree = {}

        def walk(o, rel, depth):
            if depth > 64:
                return
            for name, c in sorted(get_ent(o).items()):
                p = rel + "/" + name if rel else name
                m = get_meta(c)
                if c.kind == "d":
                    tree[p] = ("d",) + m["own"] + (m["mtime"],)
                    walk(c, p, depth + 1)
                else:
                    tree[p] = ("f",) + m["own"] + (bytes(get_data(c)), c.n, m["mtime"])
        walk(self.root, "", 0)
        return tree


def apply_op(op, data_of, ent_of, meta_of):
    kind = op[0]
    if kind == "meta":
        _, o, field, value = op
        meta_of(o)[field] = value
    elif kind == "w":
        _, o, off, b = op
        d = data_of(o)
        if len(d) < off:
            d.extend(b"\0" * (off - len(d)))
        d[off:off + len(b)] = b
    elif kind == "t":
        _, o, size = op
        d = data_of(o)
        if size < len(d):
            del d[size:]
        else:
            d.extend(b"\0" * (size - len(d)))
    elif kind == "add":
        _, dobj, name, o = op
        ent_of(dobj)[name] = o
    elif kind == "rm":
        dobj, name, o = op[1:4]
        e = ent_of(dobj)
        if e.get(name) is o:
            del e[name]
    elif kind == "mv":
        _, dobj, old, new, o = op
        e = ent_of(dobj)
        if e.get(old) is o:
            del e[old]
        e[new] = o


def image_key(tree, acked):
    h = hashlib.sha256()
    for p in sorted(tree):
        e = tree[p]
        h.update(p.encode("utf-8", "surrogateescape") + b"\0" + e[0].encode())
        h.update(repr(e[1:4] + e[-1:]).encode())    # mode, owner, mtime
        if e[0] == "f":
            h.update(hashlib.sha256(e[4]).digest())
    return h.hexdigest()


def boot_time():
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("btime "):
                return int(line.split()[1])
    raise RuntimeError("no btime in /proc/stat")


def materialize(tree, root, root_obj, rebooted=True):
    """Writes the tree at root (emptied first), owners and modes kept;
    names of one object become hard links. A file or directory whose
    mtime was set by futimens has it; every other one is dated a minute
    before this boot, as a restart after a power cut finds them: older
    than anything this boot's processes made (a lock file left by the
    cut, say). Not rebooted (the disk a kill -9 leaves), the files are
    left dated now."""
    if os.path.lexists(root):
        shutil.rmtree(root)
    os.mkdir(root)
    os.chown(root, root_obj.uid, root_obj.gid)
    os.chmod(root, root_obj.mode)
    first = {}
    for rel in sorted(tree, key=lambda p: p.count("/")):
        e = tree[rel]
        path = os.path.join(root, rel)
        if e[0] == "d":
            os.mkdir(path)
        elif e[5] in first:
            os.link(first[e[5]], path)
            continue
        else:
            first[e[5]] = path
            with open(path, "wb") as f:
                f.write(e[4])
        os.chown(path, e[2], e[3])
        os.chmod(path, e[1])
    when = boot_time() - 60
    for rel in sorted(tree, key=lambda p: p.count("/"), reverse=True):
        set_ = tree[rel][-1]
        if set_ is None and not rebooted:
            continue
        ns = set_[0] * 10**9 + set_[1] if set_ is not None else when * 10**9
        os.utime(os.path.join(root, rel), ns=(ns, ns), follow_symlinks=False)
    if rebooted:
        os.utime(root, (when, when))
