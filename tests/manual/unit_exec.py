#!/usr/bin/python3
"""Run a systemd unit's ExecStart= by hand, for machines where systemd is not PID 1.

usage: unit_exec.py UNIT_FILE INSTANCE

Reads the unit's User=, Group=, UMask=, WorkingDirectory=, Environment=, EnvironmentFile=,
StateDirectory=, NoNewPrivileges= and ExecStart= (with %i), expands ${VAR} (one argument) and
$VAR (split at whitespace, quotes respected) as systemd does, adds the variables systemd gives a
system service (PATH, HOME, USER, LOGNAME, SHELL, STATE_DIRECTORY; NOTIFY_SOCKET and WATCHDOG_*
are passed through from the caller), creates the state directories, drops to the unit's user
and execs the command in place (same pid, as systemd's main process). The namespace and seccomp
sandboxing (ProtectSystem=, SystemCallFilter=, ...) is not reproduced: only a real systemd does that.
Covers what deploy/systemd's units use, not the whole unit file syntax.
"""
import ctypes, grp, os, pwd, re, shlex, sys


def parse_unit(path, inst):
    spec = lambda s: s.replace("%i", inst).replace("%%", "%")
    u = {"Environment": [], "EnvironmentFile": [], "StateDirectory": []}
    for line in open(path):
        line = line.strip()
        if not line or line[0] in "#;[":
            continue
        key, _, val = line.partition("=")
        if key in u and isinstance(u[key], list):
            u[key].append(spec(val))
        else:
            u[key] = spec(val)
    return u


def env_file(path, env):
    for line in open(path):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        key, _, val = line.partition("=")
        val = val.strip()
        if len(val) >= 2 and val[0] in "\"'" and val[-1] == val[0]:
            val = val[1:-1].replace('\\"', '"').replace("\\\\", "\\") if val[0] == '"' else val[1:-1]
        env[key.strip()] = val


def expand(cmdline, env):
    argv = []
    for word in shlex.split(cmdline):
        m = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if m:  # $VAR alone: zero or more arguments
            argv += shlex.split(env.get(m.group(1), ""))
        else:  # ${VAR}: its exact value, within one argument
            argv.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env.get(m.group(1), ""), word))
    return argv


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    u = parse_unit(sys.argv[1], sys.argv[2])
    pw = pwd.getpwnam(u["User"])
    gid = grp.getgrnam(u.get("Group", u["User"])).gr_gid
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": pw.pw_dir,
           "USER": pw.pw_name, "LOGNAME": pw.pw_name, "SHELL": pw.pw_shell}
    for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        if k in os.environ:
            env[k] = os.environ[k]
    dirs = [d for line in u["StateDirectory"] for d in line.split()]
    for d in dirs:  # what StateDirectory= does: create, owned by the user, mode 0755
        p = "/var/lib/" + d
        os.makedirs(p, exist_ok=True)
        os.chown(p, pw.pw_uid, gid)
        os.chmod(p, 0o755)
    if dirs:
        env["STATE_DIRECTORY"] = ":".join("/var/lib/" + d for d in dirs)
    for line in u["Environment"]:
        for w in shlex.split(line):
            k, _, v = w.partition("=")
            env[k] = v
    for f in u["EnvironmentFile"]:
        if f.startswith("-") and not os.path.exists(f[1:]):
            continue
        env_file(f.lstrip("-"), env)
    argv = expand(u["ExecStart"], env)
    print("unit_exec: as %s in %s: %s" % (pw.pw_name, u.get("WorkingDirectory", "/"), shlex.join(argv)),
          file=sys.stderr, flush=True)
    os.setgroups([])
    os.setgid(gid)
    os.setuid(pw.pw_uid)
    os.umask(int(u.get("UMask", "0022"), 8))
    if u.get("NoNewPrivileges") == "yes":
        ctypes.CDLL(None, use_errno=True).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    os.chdir(u.get("WorkingDirectory", "/"))
    fd = os.open("/dev/null", os.O_RDONLY)  # StandardInput=null
    os.dup2(fd, 0)
    os.execve(argv[0], argv, env)


main()
