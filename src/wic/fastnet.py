# placeholder: fast nets are registered in wic.fastnet
