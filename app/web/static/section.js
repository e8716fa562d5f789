// section
