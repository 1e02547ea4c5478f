package extractor

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// HEIF (HEIC) and AVIF share one container, ISO-BMFF with a meta box that
// lists the items, their properties and which is the primary image. The
// decoders (libheif, or the WebAssembly fallback) read it all; this file
// reads only what must be known before any of them runs: the primary
// image's size from its ispe property, so that a header declaring a
// billion pixels is refused before a decoder allocates them, and its
// rotation and mirror properties, which a libavif-based decoder leaves to
// the caller. Every offset comes from the file and every read is
// bounds-checked.

const (
	maxBoxes      = 4096 // boxes visited in one file; a phone HEIC has a few hundred
	maxProperties = 1024 // ipco children kept; iPhone grids use a few dozen
)

// heifHeader is what heifParse finds about the primary image.
type heifHeader struct {
	width, height int    // its ispe, before rotation
	item          string // its item type: "hvc1", "av01", "grid", ...
	bits          int    // bits per sample of its first channel (pixi), 0 when unsaid
	alpha         bool   // an auxiliary alpha image refers to it (iref auxl, auxC alpha)
	// orient lists the EXIF orientation codes (see orient) equivalent to
	// its irot and imir properties, in the order they apply.
	orient []int
}

// box is one ISO-BMFF box: its type and payload.
type box struct {
	typ  string
	body []byte
}

// boxes yields the boxes laid end to end in b, stopping at the first that
// does not fit; budget counts boxes across calls so that a file of
// millions of empty boxes costs no more than maxBoxes steps.
func boxes(b []byte, budget *int, yield func(box) bool) {
	for len(b) >= 8 && *budget > 0 {
		*budget--
		size, hdr := uint64(binary.BigEndian.Uint32(b)), uint64(8)
		typ := string(b[4:8])
		switch size {
		case 0: // to the end
			size = uint64(len(b))
		case 1: // 64-bit size follows the type
			if len(b) < 16 {
				return
			}
			size, hdr = binary.BigEndian.Uint64(b[8:16]), 16
		}
		if size < hdr || size > uint64(len(b)) {
			return
		}
		if !yield(box{typ, b[hdr:size]}) {
			return
		}
		b = b[size:]
	}
}

// child returns the first box of type typ among those laid out in b.
func child(b []byte, typ string, budget *int) ([]byte, bool) {
	var found []byte
	ok := false
	boxes(b, budget, func(x box) bool {
		if x.typ == typ {
			found, ok = x.body, true
			return false
		}
		return true
	})
	return found, ok
}

// heifParse reads the primary image's size, item type and transforms
// from a HEIF or AVIF file. The error, ErrCorrupt, says what is missing.
func heifParse(b []byte) (heifHeader, error) {
	var h heifHeader
	budget := maxBoxes
	meta, ok := child(b, "meta", &budget)
	if !ok || len(meta) < 4 {
		return h, fmt.Errorf("%w: no meta box", ErrCorrupt)
	}
	meta = meta[4:] // version and flags
	primary, ok := heifPrimary(meta, &budget)
	if !ok {
		return h, fmt.Errorf("%w: no primary item", ErrCorrupt)
	}
	h.item = heifItemType(meta, primary, &budget)
	props, assoc := heifProperties(meta, primary, &budget)
	found := false
	for _, i := range assoc {
		if i < 1 || i > len(props) {
			continue
		}
		p := props[i-1]
		switch p.typ {
		case "ispe":
			if len(p.body) >= 12 && !found {
				found = true
				h.width = int(binary.BigEndian.Uint32(p.body[4:8]))
				h.height = int(binary.BigEndian.Uint32(p.body[8:12]))
			}
		case "pixi":
			// Version, flags, channel count, then each channel's depth.
			if len(p.body) >= 6 && p.body[4] > 0 {
				h.bits = int(p.body[5])
			}
		case "irot":
			if len(p.body) >= 1 {
				// Anticlockwise quarter turns, as EXIF orientations.
				if o := [4]int{1, 8, 3, 6}[p.body[0]&3]; o != 1 {
					h.orient = append(h.orient, o)
				}
			}
		case "imir":
			if len(p.body) >= 1 {
				// Axis 0 is vertical (left and right swap), 1 horizontal.
				h.orient = append(h.orient, [2]int{2, 4}[p.body[0]&1])
			}
		}
	}
	if !found {
		return h, fmt.Errorf("%w: primary item %d has no size (ispe)", ErrCorrupt, primary)
	}
	for _, aux := range heifAuxiliaries(meta, primary, &budget) {
		props, assoc := heifProperties(meta, aux, &budget)
		for _, i := range assoc {
			if i >= 1 && i <= len(props) && props[i-1].typ == "auxC" {
				urn := string(props[i-1].body[min(4, len(props[i-1].body)):])
				if strings.Contains(urn, "auxiliary:alpha") || strings.HasPrefix(urn, "urn:mpeg:hevc:2015:auxid:1\x00") {
					h.alpha = true
				}
			}
		}
	}
	return h, nil
}

// heifAuxiliaries returns the items that an iref auxl box declares
// auxiliary to item id (its alpha plane, depth map, ...), at most 16.
func heifAuxiliaries(meta []byte, id uint32, budget *int) []uint32 {
	iref, ok := child(meta, "iref", budget)
	if !ok || len(iref) < 4 {
		return nil
	}
	size := 2 // item IDs are 16-bit in version 0, 32-bit in version 1
	if iref[0] != 0 {
		size = 4
	}
	read := func(p []byte) uint32 {
		if size == 2 {
			return uint32(binary.BigEndian.Uint16(p))
		}
		return binary.BigEndian.Uint32(p)
	}
	var out []uint32
	boxes(iref[4:], budget, func(x box) bool {
		p := x.body
		if x.typ != "auxl" || len(p) < size+2 {
			return true
		}
		from, n := read(p), int(binary.BigEndian.Uint16(p[size:]))
		p = p[size+2:]
		for i := 0; i < n && (i+1)*size <= len(p); i++ {
			if read(p[i*size:]) == id {
				out = append(out, from)
				break
			}
		}
		return len(out) < 16
	})
	return out
}

// heifPrimary returns the item ID in the meta box's pitm.
func heifPrimary(meta []byte, budget *int) (uint32, bool) {
	p, ok := child(meta, "pitm", budget)
	switch {
	case !ok || len(p) < 6:
		return 0, false
	case p[0] == 0:
		return uint32(binary.BigEndian.Uint16(p[4:6])), true
	case len(p) >= 8:
		return binary.BigEndian.Uint32(p[4:8]), true
	}
	return 0, false
}

// heifItems calls yield with the ID and type of each item the meta box's
// iinf lists, until yield returns false.
func heifItems(meta []byte, budget *int, yield func(id uint32, typ string) bool) {
	iinf, ok := child(meta, "iinf", budget)
	if !ok || len(iinf) < 6 {
		return
	}
	list := iinf[6:] // version, flags, 16-bit count
	if iinf[0] != 0 {
		if len(iinf) < 8 {
			return
		}
		list = iinf[8:] // a 32-bit count
	}
	boxes(list, budget, func(x box) bool {
		e := x.body
		// infe versions 2 and 3: version, flags, item ID (16 or 32
		// bits), protection index (16 bits), item type.
		if x.typ != "infe" || len(e) < 4 {
			return true
		}
		switch {
		case e[0] == 2 && len(e) >= 12:
			return yield(uint32(binary.BigEndian.Uint16(e[4:6])), string(e[8:12]))
		case e[0] >= 3 && len(e) >= 14:
			return yield(binary.BigEndian.Uint32(e[4:8]), string(e[10:14]))
		}
		return true
	})
}

// heifItemType returns the type of item id from the meta box's iinf, ""
// when it is not listed there.
func heifItemType(meta []byte, id uint32, budget *int) string {
	typ := ""
	heifItems(meta, budget, func(item uint32, t string) bool {
		if item == id {
			typ = t
			return false
		}
		return true
	})
	return typ
}

// heifItemOfType returns the ID of the first item of type typ in the
// meta box's iinf.
func heifItemOfType(meta []byte, typ string, budget *int) (uint32, bool) {
	var id uint32
	found := false
	heifItems(meta, budget, func(item uint32, t string) bool {
		if t == typ {
			id, found = item, true
			return false
		}
		return true
	})
	return id, found
}

// heifProperties returns the meta box's property list (ipco) and the
// 1-based indices into it that ipma associates with item id, in order.
func heifProperties(meta []byte, id uint32, budget *int) ([]box, []int) {
	iprp, ok := child(meta, "iprp", budget)
	if !ok {
		return nil, nil
	}
	var props []box
	if ipco, ok := child(iprp, "ipco", budget); ok {
		boxes(ipco, budget, func(x box) bool {
			props = append(props, x)
			return len(props) < maxProperties
		})
	}
	var assoc []int
	boxes(iprp, budget, func(x box) bool {
		if x.typ != "ipma" || len(x.body) < 8 {
			return true
		}
		version, wide := x.body[0], x.body[3]&1 == 1
		n := binary.BigEndian.Uint32(x.body[4:8])
		p := x.body[8:]
		for range min(n, maxBoxes) {
			var item uint32
			if version < 1 {
				if len(p) < 2 {
					return false
				}
				item, p = uint32(binary.BigEndian.Uint16(p)), p[2:]
			} else {
				if len(p) < 4 {
					return false
				}
				item, p = binary.BigEndian.Uint32(p), p[4:]
			}
			if len(p) < 1 {
				return false
			}
			count := int(p[0])
			p = p[1:]
			size := 1
			if wide {
				size = 2
			}
			if len(p) < count*size {
				return false
			}
			if item == id {
				for i := range count {
					if wide {
						assoc = append(assoc, int(binary.BigEndian.Uint16(p[2*i:])&0x7fff))
					} else {
						assoc = append(assoc, int(p[i]&0x7f))
					}
				}
				return false
			}
			p = p[count*size:]
		}
		return true
	})
	return props, assoc
}

// heifCheck parses the header of a HEIF or AVIF file and refuses it when
// its primary image is larger than maxPixels.
func heifCheck(b []byte, maxPixels int64) (heifHeader, error) {
	h, err := heifParse(b)
	if err != nil {
		return h, err
	}
	return h, checkSize(h.width, h.height, maxPixels)
}

// HEIFDecoder names the decoder that HEIC and AVIF files go through in
// this build: "libheif 1.15.1 (cgo)", or the pure-Go fallback and what it
// found ("pure Go (HEIC: WebAssembly, AVIF: WebAssembly)").
func HEIFDecoder() string { return heifDecoderName() }
