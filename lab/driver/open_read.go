package driver

import (
	"bytes"
	"encoding/binary"
	"errors"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// harvest reads every connection that has something to read, without
// waiting.
func (o *openLoop) harvest(now time.Duration) {
	for {
		m, err := unix.EpollWait(o.ep, o.events, 0)
		if err != nil || m <= 0 {
			return
		}
		for _, ev := range o.events[:m] {
			c := o.conns[ev.Fd]
			if c.dead {
				continue
			}
			if ev.Events&unix.EPOLLOUT != 0 {
				unix.EpollCtl(o.ep, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: ev.Fd})
				o.flush(c)
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				o.read(c, now)
			}
		}
		if m < len(o.events) {
			return
		}
	}
}

// kill ends a connection: every line still in flight on it fails with its
// class if it was due in the window.
func (o *openLoop) kill(c *openConn, cls Class, err error) {
	if c.dead {
		return
	}
	c.dead, c.cause = true, cls
	for {
		p, ok := c.pop()
		if !ok {
			break
		}
		if o.inWindow(p.intended) {
			o.r.fail(cls, err)
		}
	}
	unix.EpollCtl(o.ep, unix.EPOLL_CTL_DEL, c.fd, nil)
}

func (o *openLoop) flush(c *openConn) {
	for c.woff < len(c.wbuf) && !c.dead {
		m, err := unix.Write(c.fd, c.wbuf[c.woff:])
		if err == unix.EAGAIN {
			// The server does not read: keep the bytes and wait for room
			// (the lines' latency shows the stall).
			unix.EpollCtl(o.ep, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP, Fd: c.id})
			return
		}
		if err != nil {
			o.kill(c, classify(err), err)
			return
		}
		c.woff += m
	}
	c.wbuf, c.woff = c.wbuf[:0], 0 // the buffer is kept: no allocation per line
}

func (o *openLoop) allAnswered() bool {
	for _, c := range o.conns {
		if !c.dead && c.inflight() > 0 {
			return false
		}
	}
	return true
}

// read takes what c has and matches every complete answer with the oldest
// line in flight, timing it from the kernel's arrival stamp.
func (o *openLoop) read(c *openConn, now time.Duration) {
	r := o.r
	for {
		if len(c.rbuf) == cap(c.rbuf) {
			if cap(c.rbuf) >= maxAnswer {
				o.kill(c, ErrWrong, errors.New("an answer longer than 1 MiB"))
				return
			}
			c.rbuf = append(c.rbuf, make([]byte, cap(c.rbuf))...)[:len(c.rbuf)]
		}
		m, oobn, err := o.recvmsg(c.fd, c.rbuf[len(c.rbuf):cap(c.rbuf)])
		if err == unix.EAGAIN {
			return
		}
		if err != nil {
			o.kill(c, classify(err), err)
			return
		}
		if m == 0 {
			o.kill(c, ErrClosed, errors.New("the server closed the connection"))
			return
		}
		arrived := now
		if t, ok := stamp(o.oob[:oobn]); ok {
			arrived = min(t.Sub(o.wall), now)
		}
		c.rbuf = c.rbuf[:len(c.rbuf)+m]
		done := 0
		for {
			j := bytes.IndexByte(c.rbuf[done:], '\n')
			if j < 0 {
				break
			}
			line := c.rbuf[done : done+j]
			done += j + 1
			p, ok := c.pop()
			if !ok {
				// An answer nobody asked for: the server broke "one
				// request, one response". The connection is dropped.
				err := errors.New("an answer with no request in flight")
				if arrived >= o.from && arrived < o.end {
					r.fail(ErrExtra, err)
				}
				o.kill(c, ErrExtra, err)
				return
			}
			cls, good := r.lines.check(p.seq, line)
			if good && arrived >= o.from && arrived < o.end {
				r.ok.Add(1)
			}
			if !o.inWindow(p.intended) {
				continue
			}
			if !good {
				r.fail(cls, nil)
				continue
			}
			if arrived >= o.end {
				r.late.Add(1)
			}
			o.hist.add((arrived - p.intended).Microseconds())
			o.uncorr.add((arrived - p.sent).Microseconds())
		}
		rest := copy(c.rbuf, c.rbuf[done:])
		c.rbuf = c.rbuf[:rest]
		if m < cap(c.rbuf)-rest {
			return // drained: the next read would say EAGAIN
		}
	}
}

// recvmsg reads into p with the arrival stamp in o.oob. x/sys's Recvmsg
// allocates on every call (about two allocations a line), and the
// garbage collector it fed stalled the loop by milliseconds.
func (o *openLoop) recvmsg(fd int, p []byte) (n, oobn int, err error) {
	o.iov.Base = &p[0]
	o.iov.SetLen(len(p))
	o.msg = unix.Msghdr{Iov: &o.iov, Iovlen: 1, Control: &o.oob[0]}
	o.msg.SetControllen(len(o.oob))
	r, _, errno := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&o.msg)), 0)
	if errno != 0 {
		return 0, 0, errno
	}
	return int(r), int(o.msg.Controllen), nil
}

// stamp finds the SCM_TIMESTAMPNS control message of a read: the wall
// time the kernel received the data. The headers are read field by field
// rather than cast over the buffer, so any bytes at all give an answer or
// false, never a read out of bounds (FuzzStamp).
func stamp(oob []byte) (time.Time, bool) {
	const hdr = unix.SizeofCmsghdr // Len (uint64), Level and Type (int32)
	for len(oob) >= hdr {
		l := binary.NativeEndian.Uint64(oob)
		level := int32(binary.NativeEndian.Uint32(oob[8:]))
		typ := int32(binary.NativeEndian.Uint32(oob[12:]))
		if l < hdr || l > uint64(len(oob)) {
			return time.Time{}, false
		}
		if level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS && l >= hdr+16 {
			sec := int64(binary.NativeEndian.Uint64(oob[hdr:]))
			nsec := int64(binary.NativeEndian.Uint64(oob[hdr+8:]))
			return time.Unix(sec, nsec), true
		}
		next := (l + 7) &^ 7 // each message is padded to 8 bytes
		if next > uint64(len(oob)) {
			return time.Time{}, false
		}
		oob = oob[next:]
	}
	return time.Time{}, false
}
