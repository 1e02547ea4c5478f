#!/bin/sh
# Rebuilds the sample photographs in this folder (not the --variants, see
# make-variants.sh) and SOURCES.md from the Debian bookworm packages they
# come from. A package that is not installed is unpacked, not installed, with
# `apt-get download` and `dpkg-deb -x` under $SIMSEARCH_DEBS
# (default /tmp/simsearch-debs). The same package versions and ImageMagick
# give the same bytes, so running it again changes nothing.
set -eu
cd "$(dirname "$0")"
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

S=/usr/share/backgrounds
K=/usr/share/wallpapers
L=/usr/share/lxqt/wallpapers
SK=/usr/lib/python3/dist-packages/skimage/data
LOMIRI='debian/copyright of lomiri-wallpapers'
MATE='debian/copyright'
KDE='GPL-2+ (debian/copyright); LGPL-3 per the wallpaper metadata.json'
LXQT='CC-BY-SA-3.0 (wallpapers/License); LGPL-2.1+ (debian/copyright Files: *)'

# stem|package|path|author|licence
rows=$(cat <<EOF
astronaut|python3-skimage|$SK/astronaut.png|NASA (portrait of Eileen Collins)|public domain (skimage.data.astronaut docstring)
cameraman|python3-skimage|$SK/camera.png|Lav Varshney|CC0-1.0 (skimage.data.camera docstring)
cat|python3-skimage|$SK/chelsea.png|Stefan van der Walt|CC0-1.0 (skimage.data.chelsea docstring)
dogs|lomiri-wallpapers-16.04|$S/friends_by_Aitzol_Berasategi.jpg|Aitzol Berasategi|CC-BY-4.0 ($LOMIRI)
ladybird|mate-backgrounds|$S/mate/nature/LadyBird.jpg|Charles Barbin|GPL-2+ ($MATE)
swallowtail|lxqt-themes|$L/butterfly.png|stefonarch|$LXQT
fritillary|lxqt-themes|$L/Butterfly-Kenneth-Wimer.jpg|Kenneth Wimer (file name)|$LXQT
dandelions|lomiri-wallpapers-16.04|$S/seeding_by_Clements_Engelhardt.jpg|Clemens Engelhardt|CC0-1.0 ($LOMIRI)
seedheads|mate-backgrounds|$S/mate/nature/TwoWings.jpg|Charles Barbin, Hylke Bons|GPL-2+ ($MATE)
yellowflower|mate-backgrounds|$S/mate/nature/YellowFlower.jpg|Charles Barbin|GPL-2+ ($MATE)
dahlia|python3-sklearn|/usr/lib/python3/dist-packages/sklearn/datasets/images/flower.jpg|vultilion (Flickr)|CC-BY-2.0 (sklearn/datasets/images/README.txt)
marigold|mate-backgrounds|$S/mate/nature/Garden.jpg|Charles Barbin|GPL-2+ ($MATE)
aitzgorri|lomiri-wallpapers-16.04|$S/aitzgorri_by_Aitzol_Berasategi.jpg|Aitzol Berasategi|CC-BY-4.0 ($LOMIRI)
picosdeeuropa|lomiri-wallpapers-16.04|$S/picosdeeuropa_by_Aitzol_Berasategi.jpg|Aitzol Berasategi|CC-BY-4.0 ($LOMIRI)
valendas|lxqt-themes|$L/Valendas.png|not named by the package|$LXQT
jetty|plasma-workspace-wallpapers|$K/ColdRipple/contents/images/2560x1600.jpg|Risto Saukonpää|$KDE
maldives|sddm-theme-maldives|/usr/share/sddm/themes/maldives/background.jpg|Nevit Dilmen|CC-BY-3.0 (debian/copyright)
rowboats|plasma-workspace-wallpapers|$K/EveningGlow/contents/images/2560x1600.jpg|Ian Hex|$KDE
pagoda|python3-sklearn|/usr/lib/python3/dist-packages/sklearn/datasets/images/china.jpg|danielbuechele (Flickr)|CC-BY-2.0 (sklearn/datasets/images/README.txt)
facade|plasma-workspace-wallpapers|$K/Grey/contents/images/2560x1600.jpg|Sigi Sagi|$KDE
espresso|python3-skimage|$SK/coffee.png|Rachel Michetti|CC0-1.0 (skimage.data.coffee docstring)
cups|plasma-workspace-wallpapers|$K/ColorfulCups/contents/images/2560x1600.jpg|Dmitri Popov|$KDE
fig|lomiri-wallpapers-16.04|$S/Picture_0B_by_freespace.jpg|Trevor "Freespace"|CC-BY-4.0 ($LOMIRI)
rocket|python3-skimage|$SK/rocket.jpg|SpaceX|public domain (skimage.data.rocket docstring)
forestpath|plasma-workspace-wallpapers|$K/Path/contents/images/2560x1600.jpg|Risto Saukonpää|$KDE
stream|lomiri-wallpapers-16.04|$S/life_by_Aitzol_Berasategi.jpg|Aitzol Berasategi|CC-BY-4.0 ($LOMIRI)
handwriting|python3-skimage|$SK/text.png|Wikipedia File:Corner.png|public domain (skimage.data.text docstring)
storm|mate-backgrounds|$S/mate/nature/Storm.jpg|Sergey Nazarov|GPL-2+ ($MATE)
sunset|lomiri-wallpapers-16.04|$S/sunset_by_Aitzol_Berasategi.jpg|Aitzol Berasategi|CC-BY-4.0 ($LOMIRI)
clock|lomiri-wallpapers-16.04|$S/greentock_by_Peter_Nerlich.jpg|Peter Nerlich|CC-BY-SA-4.0 ($LOMIRI)
EOF
)

# Shrink only (never enlarge) to 800 px on the long side; white behind any
# transparency; no metadata; quality 85.
opts="-auto-orient -background white -alpha remove -resize 800x800> -strip -quality 85"
shown="-auto-orient -background white -alpha remove -resize '800x800>' -strip -quality 85"

{
	echo '# Sources of the sample photographs'
	echo
	echo 'Made by `make-originals.sh` from Debian bookworm packages. In the command,'
	echo 'the path is where the file lies once the package is installed; the script'
	echo 'unpacks packages that are not installed under $SIMSEARCH_DEBS and reads'
	echo 'the same path there. Licences are those in the package'"'"'s'
	echo '/usr/share/doc/<package>/copyright (or the file it names).'
	echo 'The `--variant` files are listed in variants.csv and made by make-variants.sh.'
	echo
	echo '| file | package (version) | original path | author | licence | command |'
	echo '|---|---|---|---|---|---|'
} >SOURCES.md

echo "$rows" | while IFS='|' read -r stem pkg path author licence; do
	in=$(where "$pkg" "$path")
	# shellcheck disable=SC2086 # $opts is a list of options on purpose
	convert "$in" $opts "$stem.jpg"
	echo "| $stem.jpg | $pkg ($(version "$pkg")) | $path | $author | $licence | \`convert $path $shown $stem.jpg\` |" >>SOURCES.md
done
