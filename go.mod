module github.com/sshlogfwd/sshlogfwd

go 1.26.8

require (
	github.com/alecthomas/kong v1.17.0
	github.com/fsnotify/fsnotify v1.10.1
	golang.org/x/sys v0.50.0
)
