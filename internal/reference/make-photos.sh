#!/bin/sh
# Rebuilds the fixed reference set in photos/ and photos/SOURCES.md from the
# Debian bookworm packages the photographs come from: 32 photos, none of them
# in testdata/photos, 256 px on the shorter side, JPEG quality 85, no
# metadata. A package that is not installed is unpacked, not installed, with
# `apt-get download` and `dpkg-deb -x` under $SIMSEARCH_DEBS
# (default /tmp/simsearch-debs). The same package versions and ImageMagick
# give the same bytes, so running it again changes nothing.
#
# Changing the set changes every model's centre vector: do it on purpose.
set -eu
cd "$(dirname "$0")/photos"
debs=${SIMSEARCH_DEBS:-/tmp/simsearch-debs}

# where PKG PATH prints where PATH of package PKG lies on this machine.
where() {
	if dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed' && [ -e "$2" ]; then
		echo "$2"
		return
	fi
	if [ ! -e "$debs/$1$2" ]; then
		mkdir -p "$debs"
		(cd "$debs" && rm -f "$1"_*.deb && apt-get download "$1" >&2 && dpkg-deb -x "$1"_*.deb "$1")
	fi
	echo "$debs/$1$2"
}

# version PKG prints the Debian version of PKG that the photo was taken from.
version() {
	if dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; then
		dpkg-query -W -f='${Version}' "$1"
	else
		dpkg-deb -f "$(ls "$debs/$1"_*.deb)" Version
	fi
}

# SciPy keeps two photos as raw data; these print them as PNM on stdout.
# face.dat: bzip2 of 768 rows of 1024 RGB pixels. ascent.dat: a pickled
# 512×512 list of lists of grey levels 0..255.
face='import bz2,sys; sys.stdout.buffer.write(b"P6 1024 768 255\n"+bz2.decompress(open(sys.argv[1],"rb").read()))'
ascent='import pickle,sys; a=pickle.load(open(sys.argv[1],"rb")); sys.stdout.buffer.write(b"P5 512 512 255\n"+bytes(v for r in a for v in r))'

S=/usr/share/backgrounds
N=/usr/share/backgrounds/mate/nature
K=/usr/share/wallpapers
L=/usr/share/lxqt/wallpapers
SK=/usr/lib/python3/dist-packages/skimage/data
SP=/usr/lib/python3/dist-packages/scipy/misc
LOMIRI='debian/copyright of lomiri-wallpapers'
MATE='debian/copyright'
KDE='GPL-2+ (debian/copyright); LGPL-3 per the wallpaper metadata.json'
LXQT='CC-BY-SA-3.0 (wallpapers/License); LGPL-2.1+ (debian/copyright Files: *)'

# stem|package|path|author|licence
rows=$(cat <<EOF
gracehopper|python-matplotlib-data|/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg|U.S. Navy (portrait of Grace Hopper)|matplotlib licence (debian/copyright Files: *); an official U.S. Navy photograph
raccoon|python3-scipy|$SP/face.dat|public-domain-image.com (scipy.misc.face docstring)|public domain per scipy.misc.face docstring; BSD-3-clause (debian/copyright Files: *)
nuthatch|lomiri-wallpapers-20.04|$S/Kleiber_by_Lukas_Baubkus.jpg|Lukas Baubkus|CC-BY-SA-3.0 ($LOMIRI)
stairs|python3-scipy|$SP/ascent.dat|public-domain-image.com (scipy.misc.ascent docstring)|public domain (debian/copyright)
coins|python3-skimage|$SK/coins.png|Brooklyn Museum|no known copyright restrictions (skimage.data.coins docstring)
bridge|lomiri-wallpapers-16.04|$S/Bridge_by_Sander_Klootwijk.jpg|Sander Klootwijk|CC-BY-SA-4.0 ($LOMIRI)
dragonfly|lomiri-wallpapers-16.04|$S/Dragonfly_by_Bolly.jpg|"Bolly"|CC-BY-SA-4.0 ($LOMIRI)
brushes|lomiri-wallpapers-16.04|$S/Picture_1A_by_freespace.jpg|Trevor "Freespace"|CC-BY-4.0 ($LOMIRI)
wine|lomiri-wallpapers-16.04|$S/Wine_by_Jakkub_Mede.jpg|Jakub Mede|CC-BY-4.0 ($LOMIRI)
figurine|lomiri-wallpapers-16.04|$S/free_by_Peter_Nerlich.jpg|Peter Nerlich|CC-BY-SA-4.0 ($LOMIRI)
waterdrop|mate-backgrounds|$N/Aqua.jpg|Charles Barbin|GPL-2+ ($MATE)
leaf|mate-backgrounds|$N/Blinds.jpg|Lennart Poettering, Andrea Cimitan|GPL-2+ ($MATE)
dunegrass|mate-backgrounds|$N/Dune.jpg|Marco Cogoni, Hylke Bons|GPL-2+ ($MATE)
orangeflower|mate-backgrounds|$N/FreshFlower.jpg|Jens Ansorg|GPL-2+ ($MATE)
grass|mate-backgrounds|$N/GreenMeadow.jpg|Timothy Schellhase, Lapo Calamandrei|GPL-2+ ($MATE)
raindrops|mate-backgrounds|$N/RainDrops.jpg|"blackcombwhistler07"|GPL-2+ ($MATE)
wood|mate-backgrounds|$N/Wood.jpg|Jean-François Fortin Tam|GPL-2+ ($MATE)
boardwalk|plasma-workspace-wallpapers|$K/BytheWater/contents/images/2560x1600.jpg|Maciej Wiklo|$KDE
bluelake|plasma-workspace-wallpapers|$K/DarkestHour/contents/images/2560x1600.jpg|Risto Saukonpää|$KDE
autumnleaves|plasma-workspace-wallpapers|$K/FallenLeaf/contents/images/2560x1600.jpg|Martin Klapetek|$KDE
kite|plasma-workspace-wallpapers|$K/Kite/contents/images/2560x1600.jpg|Risto Saukonpää|$KDE
moss|plasma-workspace-wallpapers|$K/OneStandsOut/contents/images/2560x1600.jpg|Risto Saukonpää|$KDE
duskylake|plasma-workspace-wallpapers|$K/summer_1am/contents/images/2560x1600.jpg|Risto Saukonpää|$KDE
galaxies|python3-skimage|$SK/hubble_deep_field.jpg|NASA|public domain (skimage.data.hubble_deep_field docstring)
wildflowers|lxqt-themes|$L/flowers.png|stefonarch|$LXQT
fog|lxqt-themes|$L/fog.jpg|stefonarch|$LXQT
raincloud|lxqt-themes|$L/after-the-rain.jpg|stefonarch|$LXQT
clouds|lxqt-themes|$L/cloud.png|not named by the package|$LXQT
dewdrop|lxqt-themes|$L/drop.png|stefonarch|$LXQT
sunbeams|lxqt-themes|$L/beam.png|stefonarch|$LXQT
hills|lxqt-themes|$L/this-is-not-windows.jpg|stefonarch|$LXQT
appleblossom|lxqt-themes|$L/appleflower.png|stefonarch|$LXQT
EOF
)

# Fill 256 px on the shorter side (the model crops or squashes later);
# white behind any transparency; no metadata; quality 85.
opts="-auto-orient -background white -alpha remove -resize 256x256^ -strip -quality 85"
shown="-auto-orient -background white -alpha remove -resize '256x256^' -strip -quality 85"

{
	echo '# Sources of the reference photographs'
	echo
	echo 'Made by `../make-photos.sh` from Debian bookworm packages. In the command,'
	echo 'the path is where the file lies once the package is installed; the script'
	echo 'unpacks packages that are not installed under $SIMSEARCH_DEBS and reads'
	echo 'the same path there. Licences are those in the package'"'"'s'
	echo '/usr/share/doc/<package>/copyright (or the file it names).'
	echo
	echo '| file | package (version) | original path | author | licence | command |'
	echo '|---|---|---|---|---|---|'
} >SOURCES.md

rm -f ./*.jpg
echo "$rows" | while IFS='|' read -r stem pkg path author licence; do
	in=$(where "$pkg" "$path")
	case $path in
	*/face.dat)
		python3 -c "$face" "$in" | convert ppm:- $opts "$stem.jpg"
		cmd="python3 -c '$face' $path \\| convert ppm:- $shown $stem.jpg"
		;;
	*/ascent.dat)
		python3 -c "$ascent" "$in" | convert pgm:- $opts "$stem.jpg"
		cmd="python3 -c '$ascent' $path \\| convert pgm:- $shown $stem.jpg"
		;;
	*)
		# shellcheck disable=SC2086 # $opts is a list of options on purpose
		convert "$in" $opts "$stem.jpg"
		cmd="convert $path $shown $stem.jpg"
		;;
	esac
	echo "| $stem.jpg | $pkg ($(version "$pkg")) | $path | $author | $licence | \`$cmd\` |" >>SOURCES.md
done
