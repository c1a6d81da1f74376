/*
 * floor: the line protocol's echo mode in the least code a CPU can run, one
 * thread, one epoll loop, no allocation per line. It is not a model anyone
 * argues for; it is the physical limit the other servers are measured
 * against (x-lab role "floor"): what one core and the kernel's TCP stack
 * give when the server itself costs next to nothing.
 *
 * Contract (docs/PROTOCOL.md), echo mode only: answers "echo: " + payload
 * per line, strips one CR before the LF, limits a line to 65,536 bytes
 * (then "error: line too long", FIN, a drain of at most a second, close),
 * answers every complete line after a half-close and then closes, sets
 * TCP_NODELAY, and exits 0 on SIGTERM. MODE=fetch is refused at start-up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINE 65536
#define IN_CAP (MAX_LINE + 1 + 65536) /* a longest partial line plus one read */
#define DRAIN_NS 1000000000LL

static const char TOO_LONG[] = "error: line too long\n";

struct conn {
	char *in, *out;
	size_t inlen, incap, outlen, outoff, outcap;
	unsigned events; /* what epoll watches for it now */
	int eof, too_long, draining;
	long long drain_until;
};

static struct conn **conns; /* by descriptor */
static int nconns_max, ep;

static long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what) {
	fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void drop(int fd) {
	struct conn *c = conns[fd];
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	if (c) {
		free(c->in);
		free(c->out);
		free(c);
		conns[fd] = NULL;
	}
}

/* watch changes what epoll waits for, only when it changes: a syscall per
 * line would be a fifth of the work. */
static void watch(int fd, struct conn *c, unsigned events) {
	if (c->events == events)
		return;
	struct epoll_event ev = {.events = events, .data.fd = fd};
	epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
	c->events = events;
}

static void *grow(void *p, size_t n) {
	void *q = realloc(p, n);
	if (!q) {
		fprintf(stderr, "floor: out of memory\n");
		exit(1);
	}
	return q;
}

static void append(struct conn *c, const char *p, size_t n) {
	if (c->outlen + n > c->outcap) {
		size_t cap = c->outcap ? c->outcap : 4096;
		while (cap < c->outlen + n)
			cap *= 2;
		c->out = grow(c->out, cap);
		c->outcap = cap;
	}
	memcpy(c->out + c->outlen, p, n);
	c->outlen += n;
}

/* answer turns every complete line in c->in into an answer; it sets
 * too_long when a line passes the limit, and keeps the partial rest. */
static void answer(struct conn *c) {
	size_t start = 0;
	while (!c->too_long) {
		char *nl = memchr(c->in + start, '\n', c->inlen - start);
		if (!nl)
			break;
		size_t len = nl - (c->in + start);
		if (len > MAX_LINE) {
			c->too_long = 1;
			break;
		}
		if (len > 0 && c->in[start + len - 1] == '\r')
			len--;
		append(c, "echo: ", 6);
		append(c, c->in + start, len);
		append(c, "\n", 1);
		start = nl - c->in + 1;
	}
	if (!c->too_long && c->inlen - start > MAX_LINE)
		c->too_long = 1;
	if (c->too_long) {
		append(c, TOO_LONG, sizeof TOO_LONG - 1);
		c->inlen = 0;
		return;
	}
	memmove(c->in, c->in + start, c->inlen - start);
	c->inlen -= start;
}

/* flush writes what is due; returns 0 when all is written, 1 when the
 * socket is full, -1 when the connection is gone. */
static int flush(int fd, struct conn *c) {
	while (c->outoff < c->outlen) {
		ssize_t n = write(fd, c->out + c->outoff, c->outlen - c->outoff);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 1 : -1;
		}
		c->outoff += n;
	}
	c->outoff = c->outlen = 0;
	return 0;
}

/* settle decides what the connection waits for after reading or writing. */
static void settle(int fd, struct conn *c) {
	int f = flush(fd, c);
	if (f < 0) {
		drop(fd);
		return;
	}
	if (f == 1) { /* the client reads slowly: stop reading until it does */
		watch(fd, c, EPOLLOUT);
		return;
	}
	if (c->too_long && !c->draining) {
		shutdown(fd, SHUT_WR);
		c->draining = 1;
		c->drain_until = now_ns() + DRAIN_NS;
	}
	if (c->eof) {
		drop(fd);
		return;
	}
	watch(fd, c, EPOLLIN);
}

static void readable(int fd, struct conn *c) {
	char sink[65536];
	if (c->draining) {
		ssize_t n = read(fd, sink, sizeof sink);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || now_ns() > c->drain_until)
			drop(fd);
		return;
	}
	/* The input buffer starts small (an idle connection costs little) and
	 * doubles up to a longest partial line plus one read. */
	if (c->incap - c->inlen < 4096 && c->incap < IN_CAP) {
		c->incap = c->incap * 2 < IN_CAP ? c->incap * 2 : IN_CAP;
		c->in = grow(c->in, c->incap);
	}
	ssize_t n = read(fd, c->in + c->inlen, c->incap - c->inlen);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			drop(fd);
		return;
	}
	if (n == 0)
		c->eof = 1; /* half-closed: answer what is complete, then close */
	c->inlen += n;
	answer(c);
	settle(fd, c);
}

/* accept_paused_until: out of descriptors, the listener is left out of the
 * epoll set until then. Still watched, it would be ready at once again and
 * the loop would spin at a full core, serving no one. */
static long long accept_paused_until;

static void accept_all(int ln) {
	for (;;) {
		int fd = accept4(ln, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				epoll_ctl(ep, EPOLL_CTL_DEL, ln, NULL);
				accept_paused_until = now_ns() + 100000000LL; /* 100 ms */
			}
			return; /* EAGAIN, or out of descriptors: try again later */
		}
		if (fd >= nconns_max) {
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct conn *c = calloc(1, sizeof *c);
		if (!c || !(c->in = malloc(4096))) {
			fprintf(stderr, "floor: out of memory\n");
			exit(1);
		}
		c->incap = 4096;
		c->events = EPOLLIN;
		conns[fd] = c;
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	}
}

/* expire closes the connections whose drain is over, a scan four times a
 * second: draining connections are few, and a scan of the table is cheap. */
static void expire(void) {
	long long now = now_ns();
	for (int fd = 0; fd < nconns_max; fd++)
		if (conns[fd] && conns[fd]->draining && now > conns[fd]->drain_until)
			drop(fd);
}

static void stop(int sig) {
	(void)sig;
	_exit(0); /* the kernel closes every connection with the process */
}

int main(void) {
	const char *mode = getenv("MODE"), *port_s = getenv("PORT");
	if (mode && *mode && strcmp(mode, "echo") != 0) {
		fprintf(stderr, "floor: MODE=\"%s\": the floor server answers only MODE=echo\n", mode);
		return 2;
	}
	char *end;
	long port = port_s && *port_s ? strtol(port_s, &end, 10) : 7000;
	if (port_s && *port_s && (*end || port < 0 || port > 65535)) {
		fprintf(stderr, "floor: PORT=\"%s\": not a port number\n", port_s);
		return 2;
	}
	signal(SIGTERM, stop);
	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl;
	nconns_max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 1 << 20 ? (int)rl.rlim_cur : 1 << 16;
	conns = calloc(nconns_max, sizeof *conns);

	int ln = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, zero = 0;
	if (ln < 0)
		die("socket");
	setsockopt(ln, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	setsockopt(ln, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
	struct sockaddr_in6 addr = {.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = in6addr_any};
	if (bind(ln, (struct sockaddr *)&addr, sizeof addr) < 0)
		die("bind");
	if (listen(ln, 1024) < 0)
		die("listen");
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll_create1");
	struct epoll_event lev = {.events = EPOLLIN, .data.fd = ln};
	epoll_ctl(ep, EPOLL_CTL_ADD, ln, &lev);
	printf("floor: mode echo, listening on port %ld\n", port);
	fflush(stdout);

	struct epoll_event evs[256];
	long long next_expire = now_ns() + DRAIN_NS / 4;
	for (;;) {
		int n = epoll_wait(ep, evs, 256, accept_paused_until ? 100 : 250);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		if (accept_paused_until && now_ns() > accept_paused_until) {
			accept_paused_until = 0;
			epoll_ctl(ep, EPOLL_CTL_ADD, ln, &lev);
		}
		if (now_ns() > next_expire) {
			expire();
			next_expire = now_ns() + DRAIN_NS / 4;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == ln) {
				accept_all(ln);
				continue;
			}
			struct conn *c = conns[fd];
			if (!c)
				continue;
			if (evs[i].events & EPOLLOUT)
				settle(fd, c);
			else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				readable(fd, c);
		}
	}
}
