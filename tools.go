//go:build tools

package simsearch

import (
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "github.com/urfave/cli/v3"
	_ "github.com/viterin/vek/vek32"
	_ "github.com/yalue/onnxruntime_go"
	_ "go.etcd.io/bbolt"
	_ "golang.org/x/image/webp"
	_ "golang.org/x/term"
	_ "google.golang.org/protobuf/proto"
)
