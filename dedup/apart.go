package dedup

// fits reports whether candidate may join g: Options.Apart holds for it
// and no item already in g, so that no group ever holds two files the user
// decided about, whatever the keeper.
func (o *Options) fits(g *Group, candidate Item) bool {
	if o.Apart == nil {
		return true
	}
	if o.Apart(g.Keeper, candidate) {
		return false
	}
	for _, m := range g.Members {
		if o.Apart(m.Item, candidate) {
			return false
		}
	}
	return true
}

// preferFirst moves the items prefer names ahead of the others, keeping
// the order of both, and their keys with them.
func (r *ranking) preferFirst(prefer func(Item) bool) {
	if prefer == nil {
		return
	}
	var first, rest []int
	for i := range r.items {
		if prefer(r.items[i]) {
			first = append(first, i)
		} else {
			rest = append(rest, i)
		}
	}
	if len(first) == 0 {
		return
	}
	items := make([]Item, 0, len(r.items))
	keys := make([][]int64, 0, len(r.keys))
	for _, i := range append(first, rest...) {
		items = append(items, r.items[i])
		keys = append(keys, r.keys[i])
	}
	r.items, r.keys = items, keys
}
