package store

import (
	"reflect"
	"testing"
)

func TestDB_SetLabels(t *testing.T) {
	db := openTest(t, &Options{Fingerprint: testFP, ModelName: "vgg16", Dims: 8})
	ids := mustPut(t, db, testRecords(2, 2, 8)) // item 2 without labels, 3 with imagenet and head
	before, _ := db.Meta()
	head := LabelSet{Source: "head", Top: []Label{{ID: "dogs", Name: "dogs", Prob: 0.875}}}
	n, err := db.SetLabels(map[uint64]LabelSet{ids[0]: head, ids[1]: head, 999: head})
	if err != nil || n != 2 {
		t.Fatalf("SetLabels = %d, %v; want 2 items changed", n, err)
	}
	got, _, _ := db.Item(ids[0])
	if want := []LabelSet{head}; !reflect.DeepEqual(got.Labels, want) {
		t.Errorf("item without labels: %+v, want %+v", got.Labels, want)
	}
	got, _, _ = db.Item(ids[1])
	want := testItem(3).Labels
	want[1] = head // the head set replaced, the imagenet one kept
	if !reflect.DeepEqual(got.Labels, want) {
		t.Errorf("labelled item: %+v, want %+v", got.Labels, want)
	}
	rest := withID(testItem(3), ids[1])
	rest.Labels = got.Labels
	if !reflect.DeepEqual(got, rest) {
		t.Errorf("SetLabels changed more than the labels: %+v", got)
	}
	if after, _ := db.Meta(); after.ItemsVersion != before.ItemsVersion {
		t.Errorf("items version %d → %d: labels do not make the index stale", before.ItemsVersion, after.ItemsVersion)
	}
	if v, err := db.Vector(ids[1]); err != nil || !reflect.DeepEqual(v, testVector(3, 8)) {
		t.Errorf("vector after SetLabels: %v, %v", v, err)
	}
	mustCheck(t, db)
}
