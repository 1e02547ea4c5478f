#!/bin/sh
# Makes the near-duplicate copies ORIGINAL--VARIANT.EXT of some of the
# photographs in this folder, and variants.csv that lists them. It first
# removes every earlier --variant file, and the tools give the same bytes
# for the same input, so a second run changes nothing.
#
# Needs ImageMagick 6 (convert, identify), cwebp, exiftool and the DejaVu font
# (Debian: imagemagick webp libimage-exiftool-perl fonts-dejavu-core).
set -eu
cd "$(dirname "$0")"
font=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf

# variant ORIGINAL KIND writes the KIND copy of ORIGINAL.jpg and its row of
# variants.csv. exifrot3, exifrot6 and exifrot8 are all of kind exifrot.
variant() {
	src=$1.jpg
	case $2 in
	half) out=$1--half.jpg && convert "$src" -resize 50% -strip -quality 85 "$out" ;;
	q30) out=$1--q30.jpg && convert "$src" -strip -quality 30 "$out" ;;
	# 90% of each side, centred: about 5% off every edge.
	crop) out=$1--crop.jpg && convert "$src" -gravity center -crop 90%x90%+0+0 +repage -strip -quality 85 "$out" ;;
	bright) out=$1--bright.jpg && convert "$src" -modulate 120 -strip -quality 85 "$out" ;;
	mark)
		out=$1--mark.jpg
		size=$(($(identify -format %h "$src") / 14))
		convert "$src" -gravity southeast -font "$font" -pointsize "$size" \
			-stroke 'rgba(0,0,0,0.6)' -strokewidth 1 -fill 'rgba(255,255,255,0.85)' \
			-annotate +12+8 'simsearch sample' -strip -quality 85 "$out"
		;;
	# The pixels are stored turned so that a viewer which applies the EXIF
	# Orientation shows the original. Orientation says what the viewer must
	# do to the stored pixels: 3 turn 180°, 6 turn 90° clockwise, 8 turn 90°
	# anticlockwise. So the stored pixels are the original turned the
	# opposite way: 180°, 90° anticlockwise (-rotate 270), 90° clockwise
	# (-rotate 90). Quality 95 keeps the re-encoding loss small.
	exifrot3 | exifrot6 | exifrot8)
		out=$1--exifrot.jpg
		o=${2#exifrot}
		case $o in 3) turn=180 ;; 6) turn=270 ;; 8) turn=90 ;; esac
		convert "$src" -rotate "$turn" -strip -quality 95 "$out"
		exiftool -q -overwrite_original -n -Orientation="$o" "$out"
		;;
	png) out=$1--png.png && convert "$src" -strip -define png:exclude-chunks=date,time "$out" ;;
	webp) out=$1--webp.webp && cwebp -quiet -q 80 -metadata none "$src" -o "$out" ;;
	tiff) out=$1--tiff.tiff && convert "$src" -strip -compress zip "$out" ;;
	# BMP3: the plain 40-byte-header BMP that every decoder reads.
	bmp) out=$1--bmp.bmp && convert "$src" -strip "BMP3:$out" ;;
	gif) out=$1--gif.gif && convert "$src" -strip "$out" ;;
	*) echo "make-variants.sh: unknown variant $2" >&2 && exit 2 ;;
	esac
	echo "$out,$src,${2%[368]}" >>variants.csv
}

rm -f ./*--*
echo 'variant_path,original_path,variant' >variants.csv
variant ladybird half
variant ladybird q30
variant ladybird exifrot6
variant astronaut crop
variant astronaut mark
variant astronaut png
variant dahlia bright
variant dahlia webp
variant aitzgorri half
variant aitzgorri exifrot8
variant rowboats q30
variant rowboats crop
variant espresso mark
variant espresso tiff
variant espresso exifrot3
variant pagoda bright
variant pagoda webp
variant pagoda gif
variant swallowtail half
variant swallowtail mark
variant jetty crop
variant jetty q30
variant cat bright
variant cat bmp
variant cat gif
